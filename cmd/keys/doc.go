// Command keys is a ready API-key server over the keys library and an
// operator CLI for the same database.
//
//	keys serve [-addr 127.0.0.1:8080] [-db keys.db] [-jwt-secret S]
//	keys account create -id ID [-tier TIER] [-verified]
//	keys account verify -id ID
//	keys account tier -id ID -tier TIER
//	keys account show -id ID
//	keys reissue -account ID
//	keys child -account ID [-name N] [-expires RFC3339|DURATION] [-rpm N] [-quota N]
//	keys revoke -id KEY_ID
//	keys list -account ID
//	keys show -id KEY_ID
//	keys inspect < token
//	keys scan [-db DB [-revoke]] [-json] [PATH ...]
//
// Every command takes -db (default $KEYS_DB, else keys.db; a postgres://
// URL selects PostgreSQL) and -json (machine-readable output). The server
// and the CLI must share $KEYS_PEPPER if the server uses one. inspect reads
// the token from standard input, never from the command line, where it
// would land in the shell's history.
//
// scan finds tokens in files (standard input when no PATH) and, with -db,
// tells which are live keys; -revoke revokes them.
//
// Exit status: 0 on success, 1 when the operation failed (a one-line reason
// on standard error), 2 on bad usage. scan exits 0 when it found nothing, 1
// when it found a token (a live key, with -db), 2 on any error.
package main
