// Package integration holds cross-package tests of a keys.Manager running
// over the real SQL stores (sqlitestore and pgstore), the way a deployed
// service runs it: several Managers, each with its own Store (its own
// connection pools, as separate processes would have), on one database.
//
// The tests here check what no single package can: that the library's
// invariants (at most one active root key per account, no revoked or
// expired key ever authenticating, usage never lost beyond a flush
// interval) hold end to end under concurrent load, that a revocation
// made through one Manager reaches the others within the documented bound
// (CacheTTL for SQLite; LISTEN/NOTIFY, then the reconnect bound, for
// PostgreSQL), and that usage counts and last-used times survive a
// restart.
//
// The package has no non-test code. The PostgreSQL tests need a server: set
// KEYS_TEST_POSTGRES_DSN (for example
// postgres://postgres@127.0.0.1:5432/keys_test?sslmode=disable); each test
// makes a schema of its own in that database and drops it afterwards. Without
// the variable they skip. -short shortens the load tests.
package integration
