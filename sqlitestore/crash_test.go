package sqlitestore_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// crashEnv carries the database file to the crash test's child.
const crashEnv = "KEYS_SQLITESTORE_CRASH_DB"

// TestCrashRecovery kills a child process that changes keys and usage in a
// file at 20 random moments (see sqlstoretest.RunCrash): after each kill,
// PRAGMA integrity_check is ok, the invariants hold, and every operation
// the child reported done is in the file.
func TestCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	sqlstoretest.RunCrash(t, sqlstoretest.Crash{
		Child:  "TestCrashChild",
		Env:    crashEnv,
		Target: path,
		Cycles: 20,
		Open: func() (sqlstoretest.ClosableStore, error) {
			s, err := sqlitestore.Open(path)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Check: func(t *testing.T) { integrityCheck(t, path) },
	})
}

// integrityCheck runs SQLite's own consistency check on the file.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check after a crash: %s", res)
	}
}

// TestCrashChild is the child process of TestCrashRecovery; run on its own,
// it skips.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	sqlstoretest.CrashChild(func() (store.Store, error) {
		s, err := sqlitestore.Open(path)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}
