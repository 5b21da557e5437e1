package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ io.Closer   = (*Store)(nil) // every store closes the same way
)

// Store is a store.Store in a PostgreSQL database. Its methods are safe for
// concurrent use; see store.Store for what each one does.
type Store struct {
	core *sqlstore.Store
	db   *bun.DB
	// owned is true when Open created db, so Close closes it.
	owned bool
	// channel is the NOTIFY channel of this store's schema.
	channel string
	// pingEvery is how long Subscribe waits for a notification before it
	// checks that its connection is still alive.
	pingEvery time.Duration

	// Close stops running Subscribe calls (each holds a connection, and a
	// prepared statement cannot be closed while one does) and waits for
	// them: closing is cancelled by Close, subs counts the running calls,
	// and mu orders their start against Close.
	mu      sync.Mutex
	closed  bool
	closing context.Context
	stop    context.CancelFunc
	subs    sync.WaitGroup
}

// Open connects to the PostgreSQL database at dsn (a URL or keyword/value
// string as pgx accepts; a search_path parameter selects the schema),
// applies pending migrations, and returns a Store that owns the connection
// pool until Close.
//
// Unless dsn sets default_query_exec_mode, Open uses pgx's simple protocol:
// bun sends every query with its arguments already in the text, so pgx's
// default (prepare and cache each distinct text) would only add a round
// trip per query. ResolveHash uses a real prepared statement either way.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in the DSN it quotes.
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if !strings.Contains(dsn, "default_query_exec_mode") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	sqldb := stdlib.OpenDB(*cfg)
	// Bounded, so that many instances cannot exhaust max_connections;
	// every connection idles rather than being reopened (and re-preparing
	// ResolveHash). Subscribe holds one for as long as it runs.
	size := max(8, 4*runtime.GOMAXPROCS(0))
	sqldb.SetMaxOpenConns(size)
	sqldb.SetMaxIdleConns(size)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("pgstore: open: connect to %s:%d: %w", cfg.Host, cfg.Port, err), db.Close())
	}
	s, err := newStore(ctx, db)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.owned = true
	return s, nil
}

// New returns a Store over db, a *bun.DB with bun's pgdialect that the
// caller owns (Close leaves it open), after applying pending migrations in
// db's current schema. Subscribe needs db's driver to be pgx (stdlib).
func New(ctx context.Context, db *bun.DB) (*Store, error) {
	if db == nil || db.Dialect().Name() != dialect.PG {
		return nil, errors.New("pgstore: New needs a *bun.DB with bun's pgdialect")
	}
	return newStore(ctx, db)
}

func newStore(ctx context.Context, db *bun.DB) (*Store, error) {
	var schema string
	if err := db.NewRaw("SELECT current_schema()").Scan(ctx, &schema); err != nil {
		return nil, fmt.Errorf("pgstore: current schema: %w", err)
	}
	if schema == "" {
		return nil, errors.New("pgstore: no current schema: the search_path names no schema that exists")
	}
	s := &Store{db: db, channel: channelName(schema), pingEvery: 30 * time.Second}
	s.closing, s.stop = context.WithCancel(context.Background())
	core, err := sqlstore.New(ctx, sqlstore.Config{DB: db, Classify: classify, OnChange: s.notify})
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s.core = core
	return s, nil
}

// Close stops any running Subscribe calls and waits for them to return,
// releases the Store's prepared statements and, for a Store from Open,
// closes the connection pool. Call it once, after the last use.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.subs.Wait()
	errs := []error{s.core.Close()}
	if s.owned {
		errs = append(errs, s.db.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgstore: close: %w", err)
	}
	return nil
}

// channelName is the NOTIFY channel for the keys tables in schema: one per
// schema, so that stores in different schemas of one database do not
// invalidate each other's caches. Channel names are identifiers of at most
// 63 bytes; a long schema name is replaced by its hash.
func channelName(schema string) string {
	const base = "keys_invalidate"
	if schema == "public" {
		return base
	}
	name := base + ":" + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = base + ":" + hex.EncodeToString(sum[:16])
	}
	return name
}
