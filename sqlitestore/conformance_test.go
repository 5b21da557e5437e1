package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
	"github.com/keyward/keys/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// openTemp opens a store on a new file in t's temporary directory and
// closes it when t ends.
func openTemp(t testing.TB) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return sqlstoretest.CloseAtEnd(t, s)
}
