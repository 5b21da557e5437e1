package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// queryLog records the text of every query bun runs.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (l *queryLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (l *queryLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
}

func (l *queryLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queries[len(l.queries)-1]
}

// TestListExpiringKeysUsesIndex: both the first page of ListExpiringKeys
// and a page after a position are one range of the expiry index, in its
// order (no sort), with the position in the range: a scan of the keys
// about to expire reads what it returns, not every key, and not the pages
// before it again.
func TestListExpiringKeysUsesIndex(t *testing.T) {
	sqldb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "keys.db")+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	sqldb.SetMaxOpenConns(1)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	defer db.Close()
	log := &queryLog{}
	db.AddQueryHook(log)
	ctx := context.Background()
	s, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	if err := s.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	root := sqlstoretest.NewRoot("acct_1", t0)
	if err := s.ReplaceRootKey(ctx, root, [16]byte{}, t0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		k := sqlstoretest.NewChild(root, t0)
		exp := t0.Add(time.Duration(i+1) * time.Hour)
		k.ExpiresAt = &exp
		if err := s.InsertChildKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.ListExpiringKeys(ctx, store.ExpiryCursor{}, 2, t0, t0.Add(24*time.Hour))
	if err != nil || len(first) != 2 {
		t.Fatalf("first page: %d keys, %v", len(first), err)
	}
	firstQuery := log.last()
	if _, err := s.ListExpiringKeys(ctx, store.ExpiryCursorAfter(first[1]), 2, t0, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, query, bound string
	}{
		{"the first page", firstQuery, "expires_at>?"},
		{"a page after a position", log.last(), "(expires_at,id)>(?,?)"},
	} {
		if !strings.Contains(tc.query, "keys_api_keys") {
			t.Fatalf("%s: the last query was %q", tc.what, tc.query)
		}
		rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) != 1 || !strings.Contains(plan[0], "USING INDEX keys_api_keys_by_expiry (") || !strings.Contains(plan[0], tc.bound) {
			t.Errorf("%s: %s\n  plan %q, want one search of keys_api_keys_by_expiry on %s, no sort", tc.what, tc.query, plan, tc.bound)
		}
	}
}
