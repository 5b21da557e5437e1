// Command keys is a ready API-key server over the keys library and an
// operator CLI for the same database.
//
//	keys serve [-config keys.toml] [-print-config] [-addr 127.0.0.1:8080] [-db keys.db] [-jwt-secret S | -jwks-url URL ...]
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
//
// Every command takes -db (default $KEYS_DB, else keys.db; a postgres://
// URL selects PostgreSQL), -json (machine-readable output) and -config (a
// TOML file, default $KEYS_CONFIG; keys.example.toml lists every key). Each
// setting comes from the file, then its environment variable, then its
// flag, the last winning; the CLI given the server's -config applies the
// same tiers, environment and pepper. inspect reads
// the token from standard input, never from the command line, where it
// would land in the shell's history.
//
// Exit status: 0 on success, 1 when the operation failed (a one-line reason
// on standard error), 2 on bad usage.
package main
