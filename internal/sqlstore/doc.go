// Package sqlstore is the one store.Store implementation behind sqlitestore
// and pgstore. It is written against bun, so the same queries serve SQLite
// and PostgreSQL; what differs between them is passed in through Config:
// the driver-specific error classification, the connection pools, and an
// optional hook that runs inside every transaction that changes an account
// or its keys (pgstore uses it to NOTIFY).
//
// # Schema
//
// The schema lives in versioned, embedded SQL migrations (one set per
// dialect, see migrations/) applied by bun's migrate package on New. Each
// migration runs in a transaction that also records it in the
// keys_migrations table, so a crash mid-migration leaves the database either
// before or after it, never in between. Tables are prefixed keys_ because the
// database is often the host's own, and a host is likely to have an
// "accounts" table of its own.
//
// # Time
//
// Times are stored to the microsecond and always read back in UTC: as
// INTEGER Unix microseconds in SQLite (exact, compared as integers, and
// immune to the differing time-text formats of bun and the modernc driver)
// and as timestamptz in PostgreSQL (native microsecond precision). The
// dbTime type does the encoding for both.
//
// # Concurrency
//
// Every multi-row change is one transaction. In PostgreSQL, under READ
// COMMITTED, a change to an account's keys first locks the account row
// (FOR UPDATE to replace or revoke, FOR SHARE to add a child), so such
// changes to one account serialise and each later statement sees what the
// previous holder committed. In SQLite, write transactions are serialised
// by the database (BEGIN IMMEDIATE) and, when Config.SerializeWrites is set,
// by the Store too, so the same locking reads need no lock clause.
// Deadlocks and serialisation failures that PostgreSQL reports are retried a
// few times.
package sqlstore
