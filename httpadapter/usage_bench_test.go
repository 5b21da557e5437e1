package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// countingStore counts the store calls a request makes.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (s *countingStore) count(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

func (s *countingStore) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *countingStore) reset() {
	s.mu.Lock()
	clear(s.calls)
	s.mu.Unlock()
}

func (s *countingStore) Account(ctx context.Context, id string) (store.Account, error) {
	s.count("Account")
	return s.Store.Account(ctx, id)
}

func (s *countingStore) ListKeys(ctx context.Context, id string) ([]store.Key, error) {
	s.count("ListKeys")
	return s.Store.ListKeys(ctx, id)
}

func (s *countingStore) Key(ctx context.Context, id uuid.UUID) (store.Key, error) {
	s.count("Key")
	return s.Store.Key(ctx, id)
}

func (s *countingStore) Usage(ctx context.Context, a string, id uuid.UUID, m store.Month) (store.UsageTotal, error) {
	s.count("Usage")
	return s.Store.Usage(ctx, a, id, m)
}

func (s *countingStore) AccountUsage(ctx context.Context, a string, m store.Month) (store.AccountUsage, error) {
	s.count("AccountUsage")
	return s.Store.AccountUsage(ctx, a, m)
}

func (s *countingStore) ActiveRootKey(ctx context.Context, a string) (store.Key, error) {
	s.count("ActiveRootKey")
	return s.Store.ActiveRootKey(ctx, a)
}

func (s *countingStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	s.count("ResolveHash")
	return s.Store.ResolveHash(ctx, h)
}

// usageWorld is an account with n child keys, each with requests counted
// (half flushed, half pending), served by a Handler over a counting
// memstore.
func usageWorld(tb testing.TB, n int) (*httpadapter.Handler, *countingStore, string) {
	tb.Helper()
	st := &countingStore{Store: memstore.New(), calls: map[string]int{}}
	m, err := keys.New(st, keys.Config{FlushInterval: time.Hour,
		Tiers: map[keys.Tier]keys.Limits{benchTier: {RequestsPerMinute: 1 << 30, RequestsPerMonth: 1 << 62}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: benchTier, EmailVerified: true}); err != nil {
		tb.Fatal(err)
	}
	root, err := m.Reissue(ctx, "acct_1")
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		c, err := m.IssueChild(ctx, "acct_1", keys.ChildOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		k, err := m.Authenticate(ctx, c.Secret)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := m.Allow(ctx, k); err != nil {
			tb.Fatal(err)
		}
		if i == n/2 {
			if err := m.Flush(ctx); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return httpadapter.New(m, httpadapter.Options{Sessions: sessionFunc}), st, root.Secret
}

// TestUsageRouteStoreReads checks that GET /account/usage reads the store
// a fixed number of times, however many keys the account has.
func TestUsageRouteStoreReads(t *testing.T) {
	var reads []int
	for _, n := range []int{1, 10, 1000} {
		h, st, token := usageWorld(t, n)
		r := httptest.NewRequest(http.MethodGet, "/account/usage", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		st.reset()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			t.Fatal(rec.Body)
		}
		var u usageBody
		decode(t, rec, 200, &u)
		if len(u.Keys) != n+1 || u.Account.Requests != int64(n) {
			t.Fatalf("%d keys: usage lists %d keys, %d requests", n, len(u.Keys), u.Account.Requests)
		}
		reads = append(reads, st.total())
	}
	if reads[0] != reads[1] || reads[1] != reads[2] || reads[0] > 6 {
		t.Fatalf("store reads for 1, 10, 1000 keys = %v; want the same small number", reads)
	}
}

// BenchmarkUsageRoute1000Keys is GET /account/usage by the root key of an
// account with 1,000 child keys that all have requests this month, over a
// memstore: the Handler, Manager.Usage (a fixed number of store reads plus
// what is pending in memory) and the JSON.
func BenchmarkUsageRoute1000Keys(b *testing.B) {
	h, _, token := usageWorld(b, 1000)
	r := httptest.NewRequest(http.MethodGet, "/account/usage", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	benchServe(b, h, r)
}

// BenchmarkUsageRoute1000KeysFloor is the floor of the benchmark above:
// the two store reads Usage cannot do without (the account's keys and
// their counts), on the same store.
func BenchmarkUsageRoute1000KeysFloor(b *testing.B) {
	_, st, _ := usageWorld(b, 1000)
	ctx := context.Background()
	month := store.MonthOf(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		ks, err := st.Store.ListKeys(ctx, "acct_1")
		if err != nil || len(ks) != 1001 {
			b.Fatal(len(ks), err)
		}
		if _, err := st.Store.AccountUsage(ctx, "acct_1", month); err != nil {
			b.Fatal(err)
		}
	}
}
