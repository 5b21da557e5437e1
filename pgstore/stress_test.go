package pgstore_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/store"
)

// stressTime bounds the concurrency tests; -short shortens them.
func stressTime() time.Duration { return sqlstoretest.StressTime(3 * time.Second) }

// TestConcurrentStores mixes every write and the hot read from 8
// goroutines over three Stores (three pools, as three machines would have)
// on one schema.
func TestConcurrentStores(t *testing.T) {
	dsn := freshDSN(t)
	stores := []store.Store{openStore(t, dsn), openStore(t, dsn), openStore(t, dsn)}
	sqlstoretest.Stress(t, stores, 8, stressTime())
}

// TestConcurrentReplaceRootKeyAcrossStores races reissues of one account
// from separate pools: every call succeeds (no constraint error escapes),
// and exactly one root is left active.
func TestConcurrentReplaceRootKeyAcrossStores(t *testing.T) {
	dsn := freshDSN(t)
	const n = 6
	stores := make([]*pgstore.Store, n)
	for i := range stores {
		stores[i] = openStore(t, dsn)
	}
	ctx, now := t.Context(), time.Now()
	if err := stores[0].CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for range 10 {
				if err := s.ReplaceRootKey(ctx, sqlstoretest.NewRoot("acct_1", now), uuid.Nil, now); err != nil {
					t.Errorf("ReplaceRootKey: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	keys := sqlstoretest.CheckInvariants(t, stores[0], []string{"acct_1"})
	active := 0
	for _, k := range keys {
		if k.RevokedAt == nil {
			active++
		}
	}
	if len(keys) != n*10 || active != 1 {
		t.Fatalf("%d keys, %d active; want %d and 1", len(keys), active, n*10)
	}
}

// TestNewOnCallersDB runs the store, and Subscribe, on a *bun.DB the caller
// owns, and checks that Close leaves it open.
func TestNewOnCallersDB(t *testing.T) {
	sqldb, err := sql.Open("pgx", freshDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { db.Close() }) // the last cleanup to run
	s, err := pgstore.New(t.Context(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got := subscribe(t, s)
	ctx, now := t.Context(), time.Now()
	if err := s.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	timed(t, got, "acct_1", func() error { return s.ReplaceRootKey(ctx, sqlstoretest.NewRoot("acct_1", now), uuid.Nil, now) })
	t.Cleanup(func() { // after Subscribe has stopped
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Ping(); err != nil {
			t.Errorf("Close closed the caller's db: %v", err)
		}
	})
}

func TestOpenBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, dsn, want string }{
		{"not a DSN", "postgres://user:secret@host:notaport/db", "pgstore: open"},
		{"nobody listening", "postgres://postgres:secret@127.0.0.1:1/keys?sslmode=disable&connect_timeout=2", "127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pgstore.Open(ctx, tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("Open: %v; want it to mention %q and not the password", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestOpenMissingSchema(t *testing.T) {
	dsn := baseDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := pgstore.Open(t.Context(), dsn+sep+"search_path=no_such_schema_here")
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded without a schema to create tables in")
	}
	if !strings.Contains(err.Error(), "schema") {
		t.Fatalf("Open: %v", err)
	}
	t.Log(err)
}
