package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ io.Closer   = (*Store)(nil) // every store closes the same way
)

// Store is a store.Store in a SQLite database, and a store.Notifier of the
// changes any process makes to the same file. Its methods are safe for
// concurrent use; see store.Store for what each one does.
type Store struct {
	core *sqlstore.Store
	// owned are the pools Open created and Close closes; empty for New.
	owned []*bun.DB
	// feed is the pool Subscribe reads the change feed through; closed is
	// set by Close.
	feed   *bun.DB
	closed atomic.Bool
}

// Open opens (creating it if needed) the SQLite database file at path,
// applies pending migrations, and returns a Store that owns the file's
// connections until Close. The directory must exist. Open fails with a
// clear error, and leaves nothing open, if path is not a usable SQLite
// file: a missing directory, a directory, a file that is not SQLite, or one
// this process may not write.
func Open(path string) (*Store, error) {
	ctx := context.Background()
	uri, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	writer, err := openPool(ctx, uri, writerParams(), 1)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %q: %w", path, err)
	}
	// The readers rely on WAL to read beside the writer.
	if err := ensureWAL(ctx, writer); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: open %q: %w", path, err), writer.Close())
	}
	readers, err := openPool(ctx, uri, readerParams(), max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: open %q: %w", path, err), writer.Close())
	}
	s := &Store{owned: []*bun.DB{readers, writer}, feed: readers}
	core, err := sqlstore.New(ctx, sqlstore.Config{DB: writer, ReadDB: readers, Classify: classify, OnChange: s.recordChange})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: open %q: %w", path, err), readers.Close(), writer.Close())
	}
	s.core = core
	return s, nil
}

// New returns a Store over db, a *bun.DB with bun's sqlitedialect that the
// caller owns (Close leaves it open), after applying pending migrations.
// The Store runs its write transactions one at a time; the connection
// settings are db's own (see the package documentation).
func New(ctx context.Context, db *bun.DB) (*Store, error) {
	if db == nil || db.Dialect().Name() != dialect.SQLite {
		return nil, errors.New("sqlitestore: New needs a *bun.DB with bun's sqlitedialect")
	}
	s := &Store{feed: db}
	core, err := sqlstore.New(ctx, sqlstore.Config{DB: db, Classify: classify, SerializeWrites: true, OnChange: s.recordChange})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	s.core = core
	return s, nil
}

// Close releases the Store's prepared statements and, for a Store from
// Open, closes the database. Call it once, after the last use.
func (s *Store) Close() error {
	s.closed.Store(true)
	errs := []error{s.core.Close()}
	for _, db := range s.owned {
		errs = append(errs, db.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// openPool opens a pool on uri with the given connection parameters and
// size, and checks that a first connection can be made.
func openPool(ctx context.Context, uri, params string, size int) (*bun.DB, error) {
	sqldb, err := sql.Open("sqlite", uri+"?"+params)
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(size)
	// Keep every connection: a new one costs a file open, the pragmas and
	// re-preparing the statements.
	sqldb.SetMaxIdleConns(size)
	if err := sqldb.PingContext(ctx); err != nil {
		return nil, errors.Join(describe(err), sqldb.Close())
	}
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}
