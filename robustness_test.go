package keys_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

func TestFarFutureExpiry(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	for _, year := range []int{2262, 2263, 2300, 9999} {
		exp := time.Date(year, 12, 31, 0, 0, 0, 0, time.UTC)
		c := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp})
		k := f.auth(t, c.Secret)
		if _, err := f.m.Allow(ctx(), k); err != nil {
			t.Fatalf("key expiring in %d: %v", year, err)
		}
	}
}

func TestRateCeiling(t *testing.T) {
	_, err := keys.New(memstore.New(), keys.Config{Tiers: map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMinute: keys.MaxRequestsPerMinute + 1}}})
	if !errors.Is(err, keys.ErrInvalidArgument) {
		t.Fatalf("a rate above MaxRequestsPerMinute: %v", err)
	}
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{"max": {RequestsPerMinute: keys.MaxRequestsPerMinute, RequestsPerMonth: 1 << 62}}})
	f.account(t, "acct_1", "max")
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	if d, err := f.m.AllowN(ctx(), k, 1000); err != nil || d.Rate.Limit != keys.MaxRequestsPerMinute {
		t.Fatalf("at the ceiling: %+v, %v", d, err)
	}
}

func TestReissueFrom(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	first := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	if _, err := f.m.ReissueFrom(ctx(), c.Key); !errors.Is(err, keys.ErrChildKeyForbidden) {
		t.Fatalf("ReissueFrom a child: %v", err)
	}
	second, err := f.m.ReissueFrom(ctx(), f.auth(t, first.Secret))
	if err != nil || second.Key.ID == first.Key.ID {
		t.Fatalf("ReissueFrom the active root: %v", err)
	}
	if _, err := f.m.ReissueFrom(ctx(), first.Key); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("ReissueFrom a replaced root: %v", err)
	}
	if root, err := f.m.RootKey(ctx(), "acct_1"); err != nil || root.ID != second.Key.ID {
		t.Fatalf("a refused ReissueFrom changed the root: %v, %v", root.ID, err)
	}
}

func TestInvalidAccountIDsNeverReachTheStore(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	var reads atomic.Int64
	st := accountReadCounter{cs, &reads}
	f := newFixtureOn(t, st, keys.Config{})
	for _, id := range []string{"", "a\x00b", strings.Repeat("x", 129), "bad\xff"} {
		if _, err := f.m.RootKey(ctx(), id); !errors.Is(err, keys.ErrAccountNotFound) {
			t.Errorf("RootKey(%q): %v", id, err)
		}
		if _, err := f.m.Reissue(ctx(), id); !errors.Is(err, keys.ErrAccountNotFound) {
			t.Errorf("Reissue(%q): %v", id, err)
		}
		if _, err := f.m.ListKeys(ctx(), id); !errors.Is(err, keys.ErrAccountNotFound) {
			t.Errorf("ListKeys(%q): %v", id, err)
		}
		if err := f.m.SetTier(ctx(), id, keys.Pro); !errors.Is(err, keys.ErrAccountNotFound) {
			t.Errorf("SetTier(%q): %v", id, err)
		}
		if _, err := f.m.AllowAccountRate(ctx(), id); !errors.Is(err, keys.ErrAccountNotFound) {
			t.Errorf("AllowAccountRate(%q): %v", id, err)
		}
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("invalid account IDs reached the store %d times", n)
	}
}

type accountReadCounter struct {
	store.Store
	n *atomic.Int64
}

func (s accountReadCounter) Account(ctx context.Context, id string) (store.Account, error) {
	s.n.Add(1)
	return s.Store.Account(ctx, id)
}

func TestAllowAccountRateSharesThePool(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny})
	f.account(t, "acct_1", "tiny") // 10 a minute
	for range 6 {
		if d, err := f.m.AllowAccountRate(ctx(), "acct_1"); err != nil || d.Quota != (keys.Window{}) {
			t.Fatalf("AllowAccountRate: %+v, %v", d, err)
		}
	}
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for range 4 {
		mustAllow(t, f, k)
	}
	wantRefused(t, f, k, keys.ErrRateLimited)
	if _, err := f.m.AllowAccountRate(ctx(), "acct_1"); !errors.Is(err, keys.ErrRateLimited) {
		t.Fatalf("AllowAccountRate past the pool: %v", err)
	}
	if _, err := f.m.AllowAccountRate(ctx(), "nobody"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

// blockingUsageStore holds Usage until released, to put an Allow in flight
// across Close.
type blockingUsageStore struct {
	store.Store
	entered, release chan struct{}
}

func (s *blockingUsageStore) Usage(ctx context.Context, acct string, id uuid.UUID, m store.Month) (store.UsageTotal, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Usage(ctx, acct, id, m)
}

func TestCloseWithAllowInFlight(t *testing.T) {
	mem := memstore.New()
	st := &blockingUsageStore{Store: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	clock := newFakeClock(start)
	m, err := keys.New(st, keys.Config{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CreateAccount(ctx(), keys.Account{ID: "a", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, _ := m.Reissue(ctx(), "a")
	k, _ := m.Authenticate(ctx(), iss.Secret)
	res := make(chan error, 1)
	go func() {
		_, err := m.Allow(ctx(), k)
		res <- err
	}()
	<-st.entered // the Allow is reading the month's count
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	err = <-res
	u, _ := mem.Usage(ctx(), "a", iss.Key.ID, store.MonthOf(start))
	switch {
	case err == nil && u.Key != 1:
		t.Fatalf("an Allow admitted across Close was not stored (stored %d)", u.Key)
	case err != nil && !errors.Is(err, keys.ErrClosed):
		t.Fatalf("Allow across Close: %v", err)
	case err != nil && u.Key != 0:
		t.Fatalf("a refused Allow was stored")
	}
}

// failingUsageStore fails AddUsage while down is set.
type failingUsageStore struct {
	store.Store
	down atomic.Bool
}

func (s *failingUsageStore) AddUsage(ctx context.Context, id uuid.UUID, b []store.UsageDelta) ([]store.UsageTotal, error) {
	if s.down.Load() {
		return nil, errors.New("store down")
	}
	return s.Store.AddUsage(ctx, id, b)
}

func TestUsageSurvivesAStoreOutageWithoutGrowing(t *testing.T) {
	st := &failingUsageStore{Store: memstore.New()}
	f := newFixtureOn(t, st, keys.Config{FlushInterval: time.Hour})
	f.account(t, "acct_1", keys.Quant)
	f.reissue(t, "acct_1")
	var ks []keys.Key
	for range 10 {
		ks = append(ks, f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret))
	}
	st.down.Store(true)
	for range 20 {
		for _, k := range ks {
			mustAllow(t, f, k)
		}
		if err := f.m.Flush(ctx()); err == nil {
			t.Fatal("a flush into a failing store succeeded")
		}
	}
	if n := keys.RetryLen(f.m); n != len(ks) {
		t.Fatalf("%d counts waiting after 20 failed flushes of %d keys, want %d", n, len(ks), len(ks))
	}
	st.down.Store(false)
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		u, _ := st.Usage(ctx(), "acct_1", k.ID, store.MonthOf(start))
		if u.Key != 20 || u.Account != 200 {
			t.Fatalf("after the outage: %+v, want 20 and 200", u)
		}
	}
}
