package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
)

// PostgresDSNEnv names the variable that points the PostgreSQL tests at a
// database; they skip when it is unset.
const PostgresDSNEnv = "KEYS_TEST_POSTGRES_DSN"

// PostgresDSN returns the test database's DSN, or skips t.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresDSNEnv)
	if dsn == "" {
		t.Skip("set " + PostgresDSNEnv + "=postgres://... to run; .ci/run does")
	}
	return dsn
}

// FreshPostgresSchema creates a schema of its own for t (its name starts
// with prefix), dropped when t ends, and returns a DSN whose search_path
// selects it: every store a test opens on it starts empty, and tests do not
// see each other's tables. It skips t like PostgresDSN.
func FreshPostgresSchema(t testing.TB, prefix string) string {
	t.Helper()
	base := PostgresDSN(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", PostgresDSNEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
