// Package sqlitestore is the embedded default store.Store: one SQLite file,
// through the pure-Go modernc.org/sqlite driver and bun.
//
//	st, err := sqlitestore.Open("keys.db")
//	if err != nil { ... }
//	defer st.Close()
//
// Open configures the database the way this store needs it: WAL journal,
// synchronous=FULL (a committed key or revocation survives a crash or power
// loss), foreign keys on, a busy timeout, and immediate write transactions.
// It keeps two connection pools on the file: a single writer connection,
// so that writers of this process queue in Go rather than contend for the
// file lock, and a pool of query-only readers, which WAL lets run beside
// the writer. The hot lookup (ResolveHash) is a prepared statement on the
// readers.
//
// New takes a *bun.DB the caller owns (sqlitedialect, modernc or another
// SQLite driver). The store then serialises its own write transactions,
// but the connection settings are the caller's: set busy_timeout,
// foreign_keys and, ideally, synchronous=FULL and _txlock=immediate in the
// DSN so that every pooled connection gets them (see Open's DSN for the
// exact form), and switch the file to WAL once. WAL mode is stored in the
// file; Open does not put it in the DSN because on a new file the switch
// needs a lock upgrade that SQLite does not wait for, so several processes
// opening one new file at once would see SQLITE_BUSY (Open retries it).
//
// Close releases what the Store holds; every store of this module has the
// same Close() error, to be called after the last keys.Manager over it is
// closed.
//
// Times are stored as INTEGER Unix microseconds, exact and in UTC; the
// schema is created and upgraded by embedded migrations on Open and New.
package sqlitestore
