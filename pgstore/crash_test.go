package pgstore_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/store"
)

// crashEnv carries the schema's DSN to the crash test's child.
const crashEnv = "KEYS_PGSTORE_CRASH_DSN"

// TestCrashRecovery kills a client process that changes keys and usage in a
// schema of its own at 20 random moments (see sqlstoretest.RunCrash). After
// each kill, once the server has ended the dead client's sessions, a fresh
// Store finds: the partial unique index that allows one active root per
// account in place, no account with two active roots and no active child
// of a revoked root or of a root that is not its account's active one
// (both checked in SQL over the whole table as well as through the Store),
// and every operation the child reported done present with its state.
func TestCrashRecovery(t *testing.T) {
	dsn := freshDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// The child's sessions carry a name of their own, so that the parent
	// can wait for the server to end them after a kill.
	app := "keys_crash_" + u.Query().Get("search_path")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()

	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })

	sqlstoretest.RunCrash(t, sqlstoretest.Crash{
		Child:  "TestCrashChild",
		Env:    crashEnv,
		Target: u.String(),
		Cycles: 20,
		Open: func() (sqlstoretest.ClosableStore, error) {
			s, err := pgstore.Open(context.Background(), dsn)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Check: func(t *testing.T) {
			waitSessionsGone(t, admin, app)
			checkOneActiveRootIndex(t, admin)
			checkInvariantsSQL(t, admin)
		},
	})
}

// waitSessionsGone waits until the server has no session named app: the
// dead child's open transactions are rolled back, and a statement it had
// sent can no longer commit behind the parent's back.
func waitSessionsGone(t *testing.T, db *sql.DB, app string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of the killed child still open after 10s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOneActiveRootIndex checks that the schema has the partial unique
// index that allows one unrevoked root key per account, and that it is
// valid.
func checkOneActiveRootIndex(t *testing.T, db *sql.DB) {
	t.Helper()
	var def string
	var valid bool
	err := db.QueryRow(`
		SELECT i.indexdef, x.indisvalid
		FROM pg_indexes i
		JOIN pg_class c ON c.relname = i.indexname
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
		JOIN pg_index x ON x.indexrelid = c.oid
		WHERE i.schemaname = current_schema()
		  AND i.tablename = 'keys_api_keys'
		  AND i.indexname = 'keys_api_keys_one_active_root'`).Scan(&def, &valid)
	if err != nil {
		t.Fatalf("the one-active-root index: %v", err)
	}
	if !strings.HasPrefix(def, "CREATE UNIQUE INDEX") || !strings.Contains(def, "(account_id)") ||
		!strings.HasSuffix(def, "WHERE (is_root AND (revoked_at IS NULL))") || !valid {
		t.Fatalf("the one-active-root index is %q (valid: %v)", def, valid)
	}
}

// checkInvariantsSQL checks the invariants over every row of the schema,
// without the Store's code.
func checkInvariantsSQL(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, c := range []struct{ what, query string }{
		{"accounts with more than one active root", `
			SELECT account_id FROM keys_api_keys
			WHERE is_root AND revoked_at IS NULL
			GROUP BY account_id HAVING count(*) > 1`},
		{"active children of a revoked root or one not their account's active root", `
			SELECT c.id::text FROM keys_api_keys c
			JOIN keys_api_keys r ON r.id = c.root_key_id
			WHERE NOT c.is_root AND c.revoked_at IS NULL
			  AND (r.revoked_at IS NOT NULL OR NOT r.is_root OR r.account_id <> c.account_id)`},
	} {
		rows, err := db.Query(c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		var bad []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			bad = append(bad, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		rows.Close()
		if len(bad) > 0 {
			t.Errorf("%s: %s", c.what, strings.Join(bad, ", "))
		}
	}
}

// TestCrashChild is the child process of TestCrashRecovery; run on its own,
// it skips.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashEnv)
	if dsn == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	sqlstoretest.CrashChild(func() (store.Store, error) {
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}
