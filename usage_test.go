package keys_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// usageOf returns the key's entry of u, failing if it has none.
func usageOf(t *testing.T, u keys.Usage, id uuid.UUID) keys.UsageCount {
	t.Helper()
	for _, ku := range u.Keys {
		if ku.Key.ID == id {
			return ku.UsageCount
		}
	}
	t.Fatalf("no entry for key %s in %+v", id, u.Keys)
	return keys.UsageCount{}
}

func TestUsageExactBeforeAndAfterFlush(t *testing.T) {
	f := newFixture(t, keys.Config{FlushInterval: time.Hour,
		Tiers: map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMinute: 1000, RequestsPerMonth: 500}}})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{RequestsPerMonth: ptr[int64](100)})
	rk, ck := f.auth(t, root.Secret), f.auth(t, c.Secret)

	check := func(when string, nRoot, nChild int64) {
		t.Helper()
		u, err := f.m.Usage(ctx(), "acct_1", time.Time{})
		if err != nil {
			t.Fatalf("%s: Usage: %v", when, err)
		}
		if got := u.Account; got != (keys.UsageCount{Requests: nRoot + nChild, Quota: 500, Remaining: 500 - nRoot - nChild}) {
			t.Errorf("%s: account = %+v, want %d requests", when, got, nRoot+nChild)
		}
		if got := usageOf(t, u, root.Key.ID); got != (keys.UsageCount{Requests: nRoot, Quota: 500, Remaining: 500 - nRoot - nChild}) {
			t.Errorf("%s: root = %+v", when, got)
		}
		if got := usageOf(t, u, c.Key.ID); got != (keys.UsageCount{Requests: nChild, Quota: 100, Remaining: 100 - nChild}) {
			t.Errorf("%s: child = %+v", when, got)
		}
		if !u.Month.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !u.ResetsAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: month %v, resets %v", when, u.Month, u.ResetsAt)
		}
	}
	check("nothing admitted", 0, 0)
	allow := func(k keys.Key, n int) {
		t.Helper()
		for range n {
			if _, err := f.m.Allow(ctx(), k); err != nil {
				t.Fatalf("Allow: %v", err)
			}
		}
	}
	allow(rk, 7)
	allow(ck, 5)
	check("admitted, not flushed", 7, 5)
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	check("after a flush", 7, 5)
	allow(ck, 3)
	check("half flushed", 7, 8)
	// Account-endpoint requests count the rate only.
	if _, err := f.m.AllowRate(ctx(), rk); err != nil {
		t.Fatal(err)
	}
	check("after AllowRate", 7, 8)
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	check("flushed again", 7, 8)
}

// TestUsageExactWhileFlushing admits requests from several goroutines
// while others flush and read the usage: a reading never exceeds what was
// admitted by the time it returns nor falls below what was admitted when
// it started, and the final reading is exact.
func TestUsageExactWhileFlushing(t *testing.T) {
	f := newFixture(t, keys.Config{FlushInterval: time.Hour,
		Tiers: map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMinute: 1 << 20, RequestsPerMonth: 1 << 40}}})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	k := f.auth(t, root.Secret)
	const workers, each = 4, 300
	var (
		mu       sync.Mutex
		admitted int64
		wg       sync.WaitGroup
		done     = make(chan struct{})
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := f.m.Allow(ctx(), k); err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = f.m.Flush(ctx())
			}
		}
	}()
	go func() {
		defer bg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			lo := admitted
			mu.Unlock()
			u, err := f.m.Usage(ctx(), "acct_1", time.Time{})
			if err != nil {
				t.Errorf("Usage: %v", err)
				return
			}
			mu.Lock()
			hi := admitted + workers // requests counted but not yet added to admitted
			mu.Unlock()
			if u.Account.Requests < lo || u.Account.Requests > hi {
				t.Errorf("Usage = %d, outside [%d, %d]", u.Account.Requests, lo, hi)
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	bg.Wait()
	u, err := f.m.Usage(ctx(), "acct_1", time.Time{})
	if err != nil || u.Account.Requests != workers*each || usageOf(t, u, root.Key.ID).Requests != workers*each {
		t.Fatalf("final Usage = %+v, %v; want %d", u, err, workers*each)
	}
}

// failingAdd fails AddUsage on demand, so counts wait for a retry.
type failingAdd struct {
	store.Store
	mu   sync.Mutex
	fail bool
}

func (s *failingAdd) AddUsage(ctx context.Context, flushID uuid.UUID, b []store.UsageDelta) ([]store.UsageTotal, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("store down")
	}
	return s.Store.AddUsage(ctx, flushID, b)
}

func TestUsageCountsWhatAwaitsRetryAndPastMonths(t *testing.T) {
	st := &failingAdd{Store: memstore.New()}
	f := newFixtureOn(t, st, keys.Config{FlushInterval: time.Hour})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	k := f.auth(t, root.Secret)
	for range 4 {
		if _, err := f.m.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	if err := f.m.Flush(ctx()); err == nil {
		t.Fatal("Flush succeeded over a failing store")
	}
	march := start
	// Into April: March's counts wait for the retry, April's are pending.
	f.clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC))
	k = f.auth(t, root.Secret)
	for range 2 {
		if _, err := f.m.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		month time.Time
		want  int64
	}{{march, 4}, {time.Time{}, 2}, {time.Date(2026, 4, 30, 23, 0, 0, 0, time.UTC), 2}, {time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 0}} {
		u, err := f.m.Usage(ctx(), "acct_1", tc.month)
		if err != nil || u.Account.Requests != tc.want {
			t.Fatalf("Usage(%v) = %+v, %v; want %d", tc.month, u.Account, err, tc.want)
		}
	}
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	u, err := f.m.Usage(ctx(), "acct_1", march)
	if err != nil || u.Account.Requests != 4 || usageOf(t, u, root.Key.ID).Requests != 4 {
		t.Fatalf("March after the retry = %+v, %v", u, err)
	}
}

func TestUsageListsActiveAndCountedKeys(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{keys.Free: {RequestsPerMinute: 100, RequestsPerMonth: 10}}})
	f.account(t, "acct_1", keys.Free)
	f.account(t, "acct_2", keys.Free)
	root := f.reissue(t, "acct_1")
	used := f.child(t, "acct_1", keys.ChildOptions{})
	unused := f.child(t, "acct_1", keys.ChildOptions{})
	expiring := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: ptr(start.Add(time.Minute))})
	other := f.reissue(t, "acct_2")
	uk := f.auth(t, used.Secret)
	for range 12 { // the pool holds 10: two are refused and not counted
		_, _ = f.m.Allow(ctx(), uk)
	}
	if _, err := f.m.Allow(ctx(), f.auth(t, other.Secret)); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revoke(ctx(), used.Key.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revoke(ctx(), unused.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour) // expiring has expired
	u, err := f.m.Usage(ctx(), "acct_1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The root is active; used is revoked but counted; unused is revoked
	// and counted nothing; expiring expired with nothing counted.
	if len(u.Keys) != 2 || u.Keys[0].Key.ID != root.Key.ID || u.Keys[1].Key.ID != used.Key.ID {
		t.Fatalf("keys = %+v", u.Keys)
	}
	_ = expiring
	if u.Account != (keys.UsageCount{Requests: 10, Quota: 10, Remaining: 0}) {
		t.Errorf("account = %+v", u.Account)
	}
	if got := u.Keys[0].UsageCount; got != (keys.UsageCount{Requests: 0, Quota: 10, Remaining: 0}) {
		t.Errorf("root, bounded by the empty pool = %+v", got)
	}
	if _, err := f.m.Usage(ctx(), "nobody", time.Time{}); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}
