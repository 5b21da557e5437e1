package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/uptrace/bun"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ensureWAL switches the file behind db (the writer's single connection)
// to WAL journal mode, retrying while another connection is in the way, for
// up to lockBudget (the busy timeout's budget).
//
// Why not in the DSN: on a file still in rollback mode (every new file),
// "PRAGMA journal_mode=WAL" first reads the header under a shared lock and
// then upgrades to an exclusive one to rewrite it. SQLite never runs the
// busy handler for an upgrade from inside a read transaction (waiting
// could deadlock against another reader doing the same), so with several
// processes opening one new file at once, some got SQLITE_BUSY at once,
// whatever busy_timeout said. Here that answer is retried after a short
// random pause. WAL mode is stored in the file, so this is needed once per
// file; on a file already in WAL mode the pragma takes no write lock, and a
// connection the pool opens later needs no pragma at all.
func ensureWAL(ctx context.Context, db *bun.DB) error {
	deadline := time.Now().Add(lockBudget)
	for attempt := 1; ; attempt++ {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			// SQLite answers with the mode it kept, for example on a file
			// system without the shared memory WAL needs.
			return fmt.Errorf("cannot switch the database to WAL journal mode (it stays %q)", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return describe(err)
		}
		pause := time.Duration(1+rand.IntN(min(attempt, 10)*2)) * time.Millisecond
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
