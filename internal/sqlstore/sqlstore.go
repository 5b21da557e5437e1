package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyward/keys/store"
)

var _ store.Store = (*Store)(nil)

// ErrorKind is what a driver error means to the Store.
type ErrorKind int

const (
	// OtherError is any error the Store passes on, wrapped.
	OtherError ErrorKind = iota
	// UniqueViolation is a failed UNIQUE or PRIMARY KEY constraint.
	UniqueViolation
	// ForeignKeyViolation is a failed FOREIGN KEY constraint.
	ForeignKeyViolation
	// Retryable is a transaction that lost a deadlock or a serialisation
	// race and may simply be run again.
	Retryable
)

// Config is what a backend package tells New about its database.
type Config struct {
	// DB runs every transaction and, unless ReadDB is set, every read. It
	// must use bun's sqlitedialect or pgdialect. Required.
	DB *bun.DB
	// ReadDB, if set, serves the reads that are a single statement
	// (Account, Key, ResolveHash, ActiveRootKey, ListKeys, Usage), so that
	// they need not queue behind a single-connection writer.
	ReadDB *bun.DB
	// Classify tells which ErrorKind a driver error is; the core imports no
	// driver, so the backend that chose one supplies this. Required.
	Classify func(error) ErrorKind
	// OnChange, if set, runs inside the transaction of every change that
	// can make a cached key or account stale (ReplaceRootKey, RevokeKey,
	// RevokeLeaked, UpdateAccount), after the change, with the account's ID
	// (once per account changed). An error
	// rolls the change back.
	OnChange func(ctx context.Context, tx bun.Tx, accountID string) error
	// SerializeWrites makes the Store run one write transaction at a time.
	// SQLite needs it when the caller's pool may hand two writers separate
	// connections: each would otherwise wait on the file lock (or fail with
	// SQLITE_BUSY without a busy timeout). Transactions wait for their turn
	// until their context is done.
	SerializeWrites bool
}

// Store is a store.Store over a SQL database through bun. Create it with
// New; it is safe for concurrent use.
type Store struct {
	db       *bun.DB
	rdb      *bun.DB
	classify func(error) ErrorKind
	onChange func(ctx context.Context, tx bun.Tx, accountID string) error
	lock     lockClauses
	// writeTurn is a one-slot semaphore when writes are serialised, nil
	// otherwise; a channel rather than a mutex so waiting honours ctx.
	writeTurn chan struct{}
	// resolve is the prepared ResolveHash query: the hot lookup, prepared
	// once because bun builds a query's text on every call.
	resolve *sql.Stmt
	// noEvents skips writing audit events: only the benchmark that
	// measures their cost sets it (export_test.go), as its floor.
	noEvents bool
}

// lockClauses are the row-lock suffixes of the locking reads. SQLite has
// none and needs none: its write transactions are already serialised.
type lockClauses struct{ update, share string }

// New applies pending migrations to cfg.DB and returns a Store over it.
// Close releases what New prepared; the databases stay the caller's.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DB == nil || cfg.Classify == nil {
		return nil, errors.New("sqlstore: Config.DB and Config.Classify are required")
	}
	s := &Store{db: cfg.DB, rdb: cfg.ReadDB, classify: cfg.Classify, onChange: cfg.OnChange}
	if s.rdb == nil {
		s.rdb = s.db
	}
	switch name := s.db.Dialect().Name(); name {
	case dialect.SQLite:
	case dialect.PG:
		s.lock = lockClauses{update: " FOR UPDATE", share: " FOR SHARE"}
	default:
		return nil, fmt.Errorf("sqlstore: unsupported dialect %s", name)
	}
	if s.rdb.Dialect().Name() != s.db.Dialect().Name() {
		return nil, errors.New("sqlstore: Config.ReadDB has another dialect than Config.DB")
	}
	if cfg.SerializeWrites {
		s.writeTurn = make(chan struct{}, 1)
	}
	if err := migrateSchema(ctx, s.db); err != nil {
		return nil, err
	}
	stmt, err := s.rdb.DB.PrepareContext(ctx, resolveQuery(s.rdb.Dialect().Name()))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: prepare ResolveHash: %w", err)
	}
	s.resolve = stmt
	return s, nil
}

// Close releases the prepared statements. It does not close the databases.
func (s *Store) Close() error {
	if err := s.resolve.Close(); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// wrap turns a driver error into the store's error: constraint failures
// become the sentinel the contract names (the driver's text kept only as
// text), anything else is wrapped with what was being done.
func (s *Store) wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", what, store.ErrNotFound)
	}
	switch s.classify(err) {
	case UniqueViolation:
		return fmt.Errorf("sqlstore: %s: %w (%v)", what, store.ErrConflict, err)
	case ForeignKeyViolation:
		return fmt.Errorf("sqlstore: %s: %w (%v)", what, store.ErrNotFound, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", what, err)
}
