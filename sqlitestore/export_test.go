package sqlitestore

import "time"

// The package's tests wait up to 30 s for a lock rather than the 5 s of
// production. TestConcurrentOpenProcesses runs six processes built with
// -race that each migrate and write one new file, and TestConcurrentStores
// has two Stores take turns at the file lock; on a loaded 2-core CI
// machine one process can wait out the others' transactions for longer
// than 5 s (SQLite's busy handler also polls, so a waiter can miss several
// turns in a row), and that would fail a test whose point is that
// contention never fails a call. A longer budget still proves that point:
// an SQLITE_BUSY that skips the wait (a deferred transaction's upgrade, a
// WAL switch without ensureWAL's retry) fails at once whatever the budget,
// and a lock never released still fails, after 30 s. The child processes
// run this same test binary, so they get the same budget.
func init() { lockBudget = 30 * time.Second }
