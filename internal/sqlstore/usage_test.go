package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// The flush tests use batches of thousands of rows, so that RecordLastUsed
// and AddUsage split them over several statements; the conformance suite's
// batches all fit in one.

var flushT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// flushBackends runs fn on a new SQLite store and, when
// KEYS_TEST_POSTGRES_DSN is set, on a store in a new PostgreSQL schema.
func flushBackends(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, _ := pgStore(t)
		fn(t, s)
	})
}

// pgStore opens a sqlstore.Store on a schema of its own, dropped when t
// ends, and returns it with a plain pool on the same schema. It skips t
// unless KEYS_TEST_POSTGRES_DSN is set. The store's Classify never says
// Retryable, so a deadlock fails the call instead of being run again.
func pgStore(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	db := pgBunDB(t, "keys_flush_")
	s, err := sqlstore.New(ctx, sqlstore.Config{
		DB:       db,
		Classify: func(error) sqlstore.ErrorKind { return sqlstore.OtherError },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, db.DB
}

// pgBunDB opens a *bun.DB on a schema of its own (named from prefix),
// closed and dropped when t ends; it skips t unless KEYS_TEST_POSTGRES_DSN
// is set.
func pgBunDB(t testing.TB, prefix string) *bun.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(sqlstoretest.FreshPostgresSchema(t, prefix))
	if err != nil {
		t.Fatal(err)
	}
	// As pgstore.Open does: bun inlines the values anyway.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	db := bun.NewDB(stdlib.OpenDB(*cfg), pgdialect.New())
	t.Cleanup(func() { db.Close() })
	return db
}

// TestFlushMatchesMemstore applies the same large batches, with repeated
// keys, unknown keys, stale times and several months, to a SQL store and
// to memstore, and requires the same results.
func TestFlushMatchesMemstore(t *testing.T) {
	flushBackends(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		model := memstore.New()
		both := []store.Store{s, model}
		r := mrand.New(mrand.NewPCG(1, 2))

		// 40 real keys, with some LastUsedAt already set, among 1,500 IDs.
		root := sqlstoretest.NewRoot("acct_1", flushT0)
		keys := []store.Key{root}
		for range 39 {
			keys = append(keys, sqlstoretest.NewChild(root, flushT0))
		}
		for _, st := range both {
			if err := st.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: flushT0, UpdatedAt: flushT0}); err != nil {
				t.Fatal(err)
			}
			if err := st.ReplaceRootKey(ctx, root, uuid.Nil, flushT0); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys[1:] {
				if err := st.InsertChildKey(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
		}
		ids := make([]uuid.UUID, 0, 1500)
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		for len(ids) < cap(ids) {
			ids = append(ids, uuid.New())
		}
		// Microsecond times: the SQL stores keep no finer ones.
		randTime := func() time.Time {
			return flushT0.Add(time.Duration(r.Int64N(int64(10*time.Hour/time.Microsecond))) * time.Microsecond)
		}

		for round := range 3 {
			batch := make([]store.LastUsed, 3000)
			for i := range batch {
				// Real keys often, so that each appears several times.
				id := ids[r.IntN(len(ids))]
				if r.IntN(3) == 0 {
					id = keys[r.IntN(len(keys))].ID
				}
				batch[i] = store.LastUsed{KeyID: id, At: randTime()}
			}
			for _, st := range both {
				if err := st.RecordLastUsed(ctx, batch); err != nil {
					t.Fatalf("round %d: RecordLastUsed: %v", round, err)
				}
			}
			want := lastUsed(t, model)
			got := lastUsed(t, s)
			for _, k := range keys {
				if !got[k.ID].Equal(want[k.ID]) {
					t.Fatalf("round %d: key %s LastUsedAt = %v, want %v", round, k.ID, got[k.ID], want[k.ID])
				}
			}
		}

		months := []store.Month{store.MonthOf(flushT0), store.MonthOf(flushT0).Next(), store.MonthOf(flushT0).Next().Next()}
		for round := range 3 {
			// About 2,000 key-months and 1,100 account-months: several
			// statements each.
			batch := make([]store.UsageDelta, 2500)
			for i := range batch {
				batch[i] = store.UsageDelta{
					AccountID: fmt.Sprintf("acct_%03d", r.IntN(500)),
					KeyID:     ids[r.IntN(len(ids))],
					Month:     months[r.IntN(len(months))],
					N:         1 + r.Int64N(5),
				}
			}
			want, err := model.AddUsage(ctx, uuid.Nil, batch)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.AddUsage(ctx, uuid.Nil, batch)
			if err != nil {
				t.Fatalf("round %d: AddUsage: %v", round, err)
			}
			if !slices.Equal(got, want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("round %d: AddUsage[%d] (%+v) = %+v, want %+v", round, i, batch[i], got[i], want[i])
					}
				}
				t.Fatalf("round %d: AddUsage returned %d totals, want %d", round, len(got), len(want))
			}
			for _, d := range batch[:50] {
				u, err := s.Usage(ctx, d.AccountID, d.KeyID, d.Month)
				m, _ := model.Usage(ctx, d.AccountID, d.KeyID, d.Month)
				if err != nil || u != m {
					t.Fatalf("round %d: Usage(%s, %s, %v) = %+v, %v; want %+v", round, d.AccountID, d.KeyID, d.Month, u, err, m)
				}
			}
		}
	})
}

// lastUsed returns the LastUsedAt of every key of acct_1, the zero time for
// none.
func lastUsed(t *testing.T, s store.Store) map[uuid.UUID]time.Time {
	t.Helper()
	ks, err := s.ListKeys(context.Background(), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[uuid.UUID]time.Time, len(ks))
	for _, k := range ks {
		if k.LastUsedAt != nil {
			out[k.ID] = *k.LastUsedAt
		}
	}
	return out
}

// TestFlushConcurrentNoDeadlock runs overlapping multi-statement flushes
// from several connections at once on PostgreSQL, whose store here never
// retries: a flush that locked its rows out of key order would sooner or
// later deadlock with another and fail. It then checks that every key
// kept the latest time and that no usage was lost.
func TestFlushConcurrentNoDeadlock(t *testing.T) {
	s, db := pgStore(t)
	ctx := context.Background()
	root := sqlstoretest.NewRoot("acct_1", flushT0)
	if err := s.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: flushT0, UpdatedAt: flushT0}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRootKey(ctx, root, uuid.Nil, flushT0); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, is_root, created_at)
		SELECT gen_random_uuid(), 'acct_1', $1::uuid, sha256(convert_to($1 || i::text, 'UTF8')), 'sk_live_child', false, now()
		FROM generate_series(1, 1999) AS i`, root.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	ks, err := s.ListKeys(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}

	const workers, rounds = 4, 15
	month := store.MonthOf(flushT0)
	var (
		mu      sync.Mutex
		latest  = make(map[uuid.UUID]time.Time)
		keySum  = make(map[uuid.UUID]int64)
		acctSum int64
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), 7))
			for round := range rounds {
				// A random share of the keys, so that the batches' chunk
				// boundaries differ and their lock sets overlap unevenly.
				var used []store.LastUsed
				var deltas []store.UsageDelta
				share := 2 + r.IntN(8)
				for _, id := range ids {
					if r.IntN(10) < share {
						at := flushT0.Add(time.Duration(r.IntN(1_000_000)) * time.Microsecond)
						used = append(used, store.LastUsed{KeyID: id, At: at})
						deltas = append(deltas, store.UsageDelta{AccountID: "acct_1", KeyID: id, Month: month, N: 1})
					}
				}
				r.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
				if err := s.RecordLastUsed(ctx, used); err != nil {
					t.Errorf("worker %d round %d: RecordLastUsed: %v", w, round, err)
					return
				}
				if _, err := s.AddUsage(ctx, uuid.Nil, deltas); err != nil {
					t.Errorf("worker %d round %d: AddUsage: %v", w, round, err)
					return
				}
				mu.Lock()
				for _, u := range used {
					if u.At.After(latest[u.KeyID]) {
						latest[u.KeyID] = u.At
					}
				}
				for _, d := range deltas {
					keySum[d.KeyID] += d.N
					acctSum += d.N
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := lastUsed(t, s)
	for id, at := range latest {
		if !got[id].Equal(at) {
			t.Fatalf("key %s LastUsedAt = %v, want %v", id, got[id], at)
		}
	}
	for id, n := range keySum {
		u, err := s.Usage(ctx, "acct_1", id, month)
		if err != nil || u.Key != n || u.Account != acctSum {
			t.Fatalf("Usage(%s) = %+v, %v; want key %d account %d", id, u, err, n, acctSum)
		}
	}
}
