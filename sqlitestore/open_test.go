package sqlitestore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/keyward/keys/sqlitestore"
)

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	notSQLite := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notSQLite, []byte("these are not the keys you are looking for\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, []byte("SQLite"), 0o600); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"empty path", "", "empty path"},
		{"memory", ":memory:", "in-memory"},
		{"missing directory", filepath.Join(dir, "no", "such", "keys.db"), "does not exist"},
		{"parent is a file", filepath.Join(aFile, "keys.db"), "not a directory"},
		{"a directory", dir, "is a directory"},
		{"not SQLite", notSQLite, "not a SQLite database"},
		{"truncated header", short, "not a SQLite database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlitestore.Open(tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sqlitestore") {
				t.Fatalf("Open(%q) = %q, want an error saying %q", tc.path, err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
	if got, _ := os.ReadFile(notSQLite); !strings.HasPrefix(string(got), "these are not") {
		t.Fatal("a failed Open changed the file")
	}
}

func TestOpenEmptyFileAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 { // migrations apply once and are then a no-op
		s, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenOddPath checks that characters with a meaning in a URI are taken
// as part of the file name.
func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my keys ?x=1#frag %20.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
}

// TestConcurrentOpen opens one new file from several goroutines at once, as
// several processes starting together would: each must migrate or find the
// schema migrated, never fail.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := sqlitestore.Open(path)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

// TestNewLeavesCallersDB checks that New works on a caller's *bun.DB and
// that Close does not close it.
func TestNewLeavesCallersDB(t *testing.T) {
	sqldb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, sqlitedialect.New())
	defer db.Close()
	// The host's own "accounts" table does not get in the way.
	if _, err := db.Exec("CREATE TABLE accounts (name TEXT)"); err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.New(context.Background(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("Close closed the caller's db: %v", err)
	}
}
