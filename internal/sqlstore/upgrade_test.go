package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/store"
)

// firstRelease is the last migration of the first schema.
const firstRelease = "20260302000001_init.tx.up.sql"

// TestUpgradeInPlace builds a database with the first release's schema
// only, fills it through that schema, then opens it with the current code:
// the newer migrations must apply in place, the keys must read back as
// they were, and the newer methods must work on them.
func TestUpgradeInPlace(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		sqldb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "old.db")+
			"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		sqldb.SetMaxOpenConns(1)
		db := bun.NewDB(sqldb, sqlitedialect.New())
		t.Cleanup(func() { db.Close() })
		testUpgrade(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		testUpgrade(t, pgBunDB(t, "keys_upgrade_"))
	})
}

func testUpgrade(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	applied, err := sqlstore.MigrateOnly(ctx, db, func(name string) bool { return name <= firstRelease })
	if err != nil {
		t.Fatalf("first release's migrations: %v", err)
	}
	if len(applied) != 1 {
		t.Fatalf("first release = %v", applied)
	}
	// Fill it as the first release would have, in its own columns.
	t0 := time.Date(2026, 3, 2, 10, 30, 0, 123456000, time.UTC)
	old := sqlstoretest.NewRoot("acct_1", t0)
	child := sqlstoretest.NewChild(old, t0)
	root := sqlstoretest.NewRoot("acct_1", t0.Add(time.Hour))
	exp, q := t0.Add(48*time.Hour), int64(500)
	child.Name, child.ExpiresAt, child.RequestsPerMonth = "ci", &exp, &q
	revoked := t0.Add(time.Hour)
	old.RevokedAt, child.RevokedAt = &revoked, &revoked
	// A live child with an expiry: what the expiry index of a later
	// migration must find in a table it did not see filled.
	live := sqlstoretest.NewChild(root, t0.Add(90*time.Minute))
	liveExp := t0.Add(72 * time.Hour)
	live.ExpiresAt = &liveExp
	mustExec(t, db, "INSERT INTO keys_accounts (id, tier, email_verified, created_at, updated_at) VALUES (?, 'pro', ?, ?, ?)",
		"acct_1", true, dbTime(db, t0), dbTime(db, t0))
	for _, k := range []store.Key{old, child, root, live} {
		var rev, exp, rpm any
		if k.RevokedAt != nil {
			rev = dbTime(db, *k.RevokedAt)
		}
		if k.ExpiresAt != nil {
			exp = dbTime(db, *k.ExpiresAt)
		}
		if k.RequestsPerMonth != nil {
			rpm = *k.RequestsPerMonth
		}
		mustExec(t, db, "INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, name, is_root, created_at, expires_at, revoked_at, requests_per_month) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			k.ID, k.AccountID, k.RootKeyID, k.Hash[:], k.Prefix, k.Name, k.IsRoot, dbTime(db, k.CreatedAt), exp, rev, rpm)
	}

	s, err := sqlstore.New(ctx, sqlstore.Config{DB: db, Classify: func(error) sqlstore.ErrorKind { return sqlstore.OtherError }})
	if err != nil {
		t.Fatalf("opening the old database: %v", err)
	}
	defer s.Close()
	for _, want := range []store.Key{old, child, root, live} {
		got, err := s.Key(ctx, want.ID)
		if err != nil {
			t.Fatalf("Key after the upgrade: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after the upgrade:\n%+v\nwant\n%+v", got, want)
		}
	}
	if v, err := s.InitSetting(ctx, "pepper_fingerprint", "none"); err != nil || v != "none" {
		t.Fatalf("InitSetting on the upgraded database = %q, %v", v, err)
	}
	ks, err := s.ListKeysPage(ctx, "acct_1", store.KeyCursor{}, 10, false, t0.Add(2*time.Hour))
	if err != nil || len(ks) != 2 || ks[0].ID != root.ID || ks[1].ID != live.ID {
		t.Fatalf("ListKeysPage on the upgraded database = %v, %v", ks, err)
	}
	// The revoked child expires in the window too, and stays out.
	ks, err = s.ListExpiringKeys(ctx, store.ExpiryCursor{}, 10, t0.Add(2*time.Hour), t0.Add(7*24*time.Hour))
	if err != nil || len(ks) != 1 || ks[0].ID != live.ID {
		t.Fatalf("ListExpiringKeys on the upgraded database = %v, %v; want the live child", ks, err)
	}
	if n, err := s.PruneRevoked(ctx, revoked); err != nil || n != 2 {
		t.Fatalf("PruneRevoked on the upgraded database = %d, %v; want 2", n, err)
	}
	// The expiry index is there to be used (ListExpiringKeys's plan is
	// checked where it is built; here, that the upgrade made it).
	indexQuery := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'keys_api_keys_by_expiry'"
	if db.Dialect().Name().String() != "sqlite" {
		indexQuery = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'keys_api_keys_by_expiry'"
	}
	var indexes int
	if err := db.NewRaw(indexQuery).Scan(ctx, &indexes); err != nil || indexes != 1 {
		t.Fatalf("the expiry index after the upgrade: %d, %v", indexes, err)
	}
	var names []string
	if err := db.NewRaw("SELECT name FROM keys_migrations ORDER BY name").Scan(ctx, &names); err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 || !strings.HasPrefix(firstRelease, names[0]) {
		t.Fatalf("recorded migrations after the upgrade: %v", names)
	}
}

// dbTime is how the first release stored a time in db's dialect.
func dbTime(db *bun.DB, t time.Time) any {
	if db.Dialect().Name().String() == "sqlite" {
		return t.UnixMicro()
	}
	return t
}

func mustExec(t *testing.T, db *bun.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
