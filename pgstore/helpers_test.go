package pgstore_test

import (
	"context"
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/pgstore"
)

// baseDSN returns the test database's DSN, or skips t.
func baseDSN(t testing.TB) string { return sqlstoretest.PostgresDSN(t) }

// freshDSN returns a DSN on a schema of t's own, dropped when t ends.
func freshDSN(t testing.TB) string { return sqlstoretest.FreshPostgresSchema(t, "keys_test_") }

// openStore opens a store on dsn, closed when t ends.
func openStore(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return sqlstoretest.CloseAtEnd(t, s)
}
