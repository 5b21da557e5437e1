package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

const (
	migrationsTable      = "keys_migrations"
	migrationLocksTable  = "keys_migration_locks"
	migrateAttempts      = 3
	pgMigrationLockQuery = "SELECT pg_advisory_lock(hashtext(current_schema() || '.keys_migrations'))"
	pgMigrationUnlock    = "SELECT pg_advisory_unlock(hashtext(current_schema() || '.keys_migrations'))"
)

// migrateSchema brings the schema of db up to date. It is idempotent and safe to
// run from several processes at once: PostgreSQL serialises the runs with an
// advisory lock (per schema); in SQLite, each migration is an immediate
// transaction, and a run that lost a race re-reads what the winner recorded.
func migrateSchema(ctx context.Context, db *bun.DB) error {
	dir, err := migrationDir(db)
	if err != nil {
		return err
	}
	if db.Dialect().Name() == dialect.PG {
		unlock, err := pgLock(ctx, db)
		if err != nil {
			return err
		}
		defer unlock()
	}
	// A SQLite run that lost a race to another process fails on the
	// winner's tables; the next attempt finds them recorded.
	for range migrateAttempts {
		if err = runMigrations(ctx, db, dir, ""); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// runMigrations applies the migrations that are not recorded as applied,
// those named up to upTo when it is not "".
func runMigrations(ctx context.Context, db *bun.DB, dir, upTo string) error {
	fsys, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(fsys); err != nil {
		return err
	}
	if upTo != "" {
		some := migrate.NewMigrations()
		for _, m := range ms.Sorted() {
			if m.Name <= upTo {
				some.Add(m)
			}
		}
		ms = some
	}
	m := migrate.NewMigrator(db, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		// The record is written by recordInTx inside the migration's own
		// transaction; the migrator's own upsert afterwards is a no-op
		// refresh. Marking before running (bun's default) would leave a
		// migration recorded but not applied after a crash.
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.WithUpsert(true),
		migrate.AfterMigration(recordInTx),
	)
	if err := m.Init(ctx); err != nil {
		return err
	}
	_, err = m.Migrate(ctx)
	return err
}

// recordInTx marks a migration applied on the connection (the migration's
// transaction) that ran it, so the schema change and its record commit
// together.
func recordInTx(ctx context.Context, db bun.IConn, m *migrate.Migration) error {
	idb, ok := db.(bun.IDB)
	if !ok {
		return fmt.Errorf("cannot record migration %s on a %T", m.Name, db)
	}
	rec := *m
	rec.ID = 0 // let the table number it
	_, err := idb.NewInsert().
		Model(&rec).
		ModelTableExpr(migrationsTable).
		On("CONFLICT (name) DO NOTHING").
		Exec(ctx)
	return err
}

func migrationDir(db *bun.DB) (string, error) {
	switch db.Dialect().Name() {
	case dialect.SQLite:
		return "migrations/sqlite", nil
	case dialect.PG:
		return "migrations/postgres", nil
	default:
		return "", fmt.Errorf("sqlstore: unsupported dialect %s", db.Dialect().Name())
	}
}

// pgLock takes a session-level advisory lock on a connection of its own, so
// that concurrent Opens of one schema migrate one after the other (bun's
// lock table would instead fail the loser, and outlive a crashed winner).
func pgLock(ctx context.Context, db *bun.DB) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	if _, err := conn.ExecContext(ctx, pgMigrationLockQuery); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlstore: migrate: lock: %w", err), conn.Close())
	}
	return func() {
		// Unlock even if ctx is done; closing the connection would release
		// the lock too, but the pool keeps the connection open.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), pgMigrationUnlock)
		_ = conn.Close()
	}, nil
}
