// Command keys is a ready API-key server over the keys library and an
// operator CLI for the same database.
//
//	keys serve [-config keys.toml] [-print-config] [-addr 127.0.0.1:8080] [-jwt-secret S | -jwks-url URL ...] [-cache-ttl 5s] [-demo auto|true|false]
//	keys account create -id ID [-tier TIER] [-verified]
//	keys account verify -id ID
//	keys account tier -id ID -tier TIER
//	keys account show -id ID
//	keys account list [-limit N] [-after ID]
//	keys reissue -account ID
//	keys child -account ID [-name N] [-expires RFC3339|DURATION] [-rpm N] [-quota N]
//	keys revoke -id KEY_ID
//	keys list -account ID
//	keys show -id KEY_ID
//	keys inspect < token
//	keys help [COMMAND]
//	keys scan [-db DB [-revoke]] [-json] [PATH ...]
//
// Every command takes -db (default $KEYS_DB, else keys.db; a postgres://
// URL or a host=… dbname=… DSN selects PostgreSQL) and -env (live or
// test, default $KEYS_ENVIRONMENT, else live); all but serve take -json
// (machine-readable output). Those three may also come before the
// command's name. Only serve and account create create a SQLite database;
// the other commands refuse a path with no file. serve's -demo creates a
// demo account and prints its key: by default (auto) only on a new SQLite
// database. The server and the CLI must share $KEYS_PEPPER if the server
// uses one. inspect reads the token from standard input, never from the
// command line, where it would land in the shell's history.
// Every command but scan also takes -config (a TOML file, default $KEYS_CONFIG;
// keys.example.toml lists every key). Each setting comes from the file,
// then its environment variable, then its flag, the last winning; the CLI
// given the server's -config applies the same tiers, environment and
// pepper.
//
// scan finds tokens in files (standard input when no PATH) and, with -db,
// tells which are live keys; -revoke revokes them.
//
// Exit status: 0 on success, 1 when the operation failed (a one-line reason
// on standard error), 2 on bad input (a line saying what was wrong).
// scan exits 0 when it found nothing, 1 when it found a token (a live
// key, with -db), 2 on any error.
package main
