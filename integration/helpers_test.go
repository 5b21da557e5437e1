package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection

	"github.com/keyward/keys"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

const dsnEnv = "KEYS_TEST_POSTGRES_DSN"

// fakeClock is a Config.Clock that tests move by hand, shared by several
// Managers as one machine's clock would be.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// epoch is where fake clocks start: a whole second, so that last-used
// times (kept in whole seconds) compare exactly.
var epoch = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// tempDB returns the path of a new SQLite file in a directory removed when
// t ends.
func tempDB(t testing.TB) string {
	return filepath.Join(t.TempDir(), "keys.db")
}

// openSQLite opens the SQLite file at path and closes it when t ends
// (after the Managers on it, which are registered later).
func openSQLite(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("sqlitestore.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sqlitestore Close: %v", err)
		}
	})
	return s
}

// pgBaseDSN returns the test server's DSN or skips t.
func pgBaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("PostgreSQL test: set %s=postgres://user@host:5432/db?sslmode=disable to run it (.ci/run does)", dsnEnv)
	}
	return dsn
}

// pgFreshSchema creates a schema of t's own in the test database, dropped
// when t ends, and returns its name and a DSN whose search_path selects it.
func pgFreshSchema(t testing.TB) (schema, dsn string) {
	t.Helper()
	base := pgBaseDSN(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", dsnEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema = "keys_it_" + hex.EncodeToString(b[:])
	admin := pgAdmin(t)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return schema, u.String()
}

// pgAdmin returns a plain connection pool on the test database, closed
// when t ends.
func pgAdmin(t testing.TB) *sql.DB {
	t.Helper()
	admin, err := sql.Open("pgx", pgBaseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

// withParam returns dsn with one more query parameter.
func withParam(t testing.TB, dsn, name, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPG opens a pgstore on dsn (its own pool, as a separate machine would
// have) and closes it when t ends.
func openPG(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgstore.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgstore Close: %v", err)
		}
	})
	return s
}

// newManager returns a Manager over st, closed when t ends unless the test
// closed it first (Close is idempotent).
func newManager(t testing.TB, st store.Store, cfg keys.Config) *keys.Manager {
	t.Helper()
	m, err := keys.New(st, cfg)
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Manager Close: %v", err)
		}
	})
	return m
}

// mustAuth authenticates token through m or fails t.
func mustAuth(t testing.TB, m *keys.Manager, token, what string) keys.Key {
	t.Helper()
	k, err := m.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("%s: Authenticate: %v", what, err)
	}
	return k
}
