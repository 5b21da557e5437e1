package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
)

func TestDemoModeFlag(t *testing.T) {
	for _, tc := range []struct {
		mode      demoMode
		fresh, on bool
	}{
		{demoAuto, true, true}, {demoAuto, false, false},
		{demoTrue, true, true}, {demoTrue, false, true},
		{demoFalse, true, false}, {demoFalse, false, false},
	} {
		if got := tc.mode.wanted(tc.fresh); got != tc.on {
			t.Errorf("%s.wanted(new=%v) = %v", tc.mode, tc.fresh, got)
		}
	}
	var d demoMode
	for _, bad := range []string{"", "yes", "1", "AUTO"} {
		if d.Set(bad) == nil {
			t.Errorf("-demo %q accepted", bad)
		}
	}
}

// TestDemoModes starts the server with each -demo setting on new and
// existing databases: by default the demo account (a verified pro account
// with a live key, printed) is made only on a new SQLite database.
func TestDemoModes(t *testing.T) {
	existing := func(t *testing.T) string {
		db := filepath.Join(t.TempDir(), "keys.db")
		mustRun(t, db, "account", "create", "-id", "acme")
		return db
	}
	newFile := func(t *testing.T) string { return filepath.Join(t.TempDir(), "keys.db") }
	emptyFile := func(t *testing.T) string {
		db := filepath.Join(t.TempDir(), "keys.db")
		if err := os.WriteFile(db, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return db
	}
	for _, tc := range []struct {
		name string
		db   func(*testing.T) string
		flag []string
		demo bool
	}{
		{"auto, new file", newFile, nil, true},
		{"auto, empty file", emptyFile, []string{"-demo", "auto"}, true},
		{"auto, existing database", existing, nil, false},
		{"true, existing database", existing, []string{"-demo=true"}, true},
		{"false, new file", newFile, []string{"-demo", "false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db(t)
			srv := serve(t, db, tc.flag...)
			srv.stop(t)
			if (srv.secret != "") != tc.demo {
				t.Fatalf("demo key printed: %v, want %v", srv.secret != "", tc.demo)
			}
			code, _, _ := runIn(t, db, "", "account", "show", "-id", "demo")
			if (code == 0) != tc.demo {
				t.Fatalf("demo account exists: %v, want %v", code == 0, tc.demo)
			}
		})
	}
}

// TestDemoAutoPostgres checks that -demo's default never touches a
// PostgreSQL database, however empty; -demo=true still may.
func TestDemoAutoPostgres(t *testing.T) {
	db := sqlstoretest.FreshPostgresSchema(t, "keys_cli_")
	srv := serve(t, db)
	srv.stop(t)
	if srv.secret != "" {
		t.Fatal("serve printed a demo key on PostgreSQL by default")
	}
	if code, _, _ := runIn(t, db, "", "account", "show", "-id", "demo"); code != exitFail {
		t.Fatal("serve created the demo account on PostgreSQL by default")
	}
	// The server trusts local connections, so a password in the DSN is
	// ignored, and must not be logged.
	srv = serve(t, db+"&password=pw-in-the-query", "-demo", "true")
	srv.stop(t)
	if srv.secret == "" {
		t.Fatal("-demo true made no demo account on PostgreSQL")
	}
	logged := srv.stderr.String()
	if strings.Contains(logged, "pw-in-the-query") || !strings.Contains(logged, `db="postgres host=`) {
		t.Fatalf("the log shows more or less of the DSN than host, port, database and user:\n%s", logged)
	}
}
