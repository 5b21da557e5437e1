package keys_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// tiny is a tier small enough to exhaust in a test.
var tiny = map[keys.Tier]keys.Limits{"tiny": {RequestsPerMinute: 10, RequestsPerMonth: 20}}

func mustAllow(t *testing.T, f *fixture, k keys.Key) keys.Decision {
	t.Helper()
	d, err := f.m.Allow(ctx(), k)
	if err != nil || !d.Allowed {
		t.Fatalf("Allow: %+v, %v", d, err)
	}
	return d
}

func wantRefused(t *testing.T, f *fixture, k keys.Key, reason error) keys.Decision {
	t.Helper()
	d, err := f.m.Allow(ctx(), k)
	if !errors.Is(err, reason) || d.Allowed || !errors.Is(d.Reason, reason) || d.RetryAfter <= 0 {
		t.Fatalf("Allow: %+v, %v; want refused with %v", d, err, reason)
	}
	return d
}

func TestRateBurstThenSteady(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Free) // 60 per minute
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for i := range 60 {
		d := mustAllow(t, f, k)
		if d.Rate.Limit != 60 || d.Rate.Remaining != int64(59-i) {
			t.Fatalf("request %d: rate %+v", i, d.Rate)
		}
	}
	d := wantRefused(t, f, k, keys.ErrRateLimited)
	if d.RetryAfter != time.Second || d.Limit != 60 || d.Remaining != 0 {
		t.Fatalf("refusal = %+v, want RetryAfter 1s", d)
	}
	if !d.Reset.Equal(start.Add(time.Minute)) {
		t.Fatalf("Reset = %v, want %v", d.Reset, start.Add(time.Minute))
	}
	// The window edge: one nanosecond early is still refused.
	f.clock.Add(time.Second - time.Nanosecond)
	wantRefused(t, f, k, keys.ErrRateLimited)
	f.clock.Add(time.Nanosecond)
	mustAllow(t, f, k)
	wantRefused(t, f, k, keys.ErrRateLimited)
	// Held steady: one per second for a minute all pass.
	for range 60 {
		f.clock.Add(time.Second)
		mustAllow(t, f, k)
	}
	// Idle for a minute: the full burst again.
	f.clock.Add(time.Minute)
	for range 60 {
		mustAllow(t, f, k)
	}
	wantRefused(t, f, k, keys.ErrRateLimited)
}

func TestRatePoolSharedByRootAndChildren(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Free) // pool: 60 per minute
	root := f.auth(t, f.reissue(t, "acct_1").Secret)
	a := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
	b := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(10)}).Secret)
	for range 10 {
		mustAllow(t, f, b)
	}
	// The override is below the tier: b stops at 10, the pool has room.
	wantRefused(t, f, b, keys.ErrRateLimited)
	for range 40 {
		mustAllow(t, f, a)
	}
	// 50 used of the pool's 60: root gets only the 10 left.
	for range 10 {
		mustAllow(t, f, root)
	}
	d := wantRefused(t, f, root, keys.ErrRateLimited)
	if d.Limit != 60 {
		t.Fatalf("binding limit = %d, want the pool's 60", d.Limit)
	}
	// Another account is untouched.
	f.account(t, "acct_2", keys.Free)
	mustAllow(t, f, f.auth(t, f.reissue(t, "acct_2").Secret))
}

func TestOverrideAtTierBehavesLikeTier(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny})
	f.account(t, "acct_1", "tiny")
	f.reissue(t, "acct_1")
	c := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(10), RequestsPerMonth: ptr(int64(20))}).Secret)
	for range 10 {
		mustAllow(t, f, c)
	}
	wantRefused(t, f, c, keys.ErrRateLimited)
}

func TestQuota(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny})
	f.account(t, "acct_1", "tiny") // 20 a month
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for i := range 20 {
		f.clock.Add(time.Minute) // stay under the rate
		d := mustAllow(t, f, k)
		if d.Quota.Limit != 20 || d.Quota.Remaining != int64(19-i) {
			t.Fatalf("request %d: quota %+v", i, d.Quota)
		}
	}
	f.clock.Add(time.Minute)
	d := wantRefused(t, f, k, keys.ErrQuotaExceeded)
	nextMonth := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	if !d.Reset.Equal(nextMonth) || d.RetryAfter != nextMonth.Sub(f.clock.Now()) || d.Limit != 20 || d.Remaining != 0 {
		t.Fatalf("quota refusal = %+v", d)
	}
	// The rate was not charged for the refused request.
	if d2, _ := f.m.AllowRate(ctx(), k); !d2.Allowed || d2.Rate.Remaining != 9 {
		t.Fatalf("AllowRate after quota refusal = %+v", d2)
	}
}

func TestQuotaPoolAndChildOverride(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny})
	f.account(t, "acct_1", "tiny") // pool: 20 a month
	root := f.auth(t, f.reissue(t, "acct_1").Secret)
	c := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{RequestsPerMonth: ptr(int64(15))}).Secret)
	for range 8 {
		f.clock.Add(time.Minute)
		mustAllow(t, f, root)
	}
	// 12 left in the pool, 15 on the child's own: the lower one rules.
	for i := range 12 {
		f.clock.Add(time.Minute)
		if d := mustAllow(t, f, c); d.Quota.Remaining != int64(11-i) {
			t.Fatalf("child request %d: remaining %d", i, d.Quota.Remaining)
		}
	}
	f.clock.Add(time.Minute)
	wantRefused(t, f, c, keys.ErrQuotaExceeded)
	wantRefused(t, f, root, keys.ErrQuotaExceeded)
}

func TestQuotaMonthRollover(t *testing.T) {
	for _, tc := range []struct{ last, first time.Time }{
		{time.Date(2026, 1, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 2, 28, 23, 59, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2028, 2, 29, 23, 0, 0, 0, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.last.Format("2006-01-02"), func(t *testing.T) {
			f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{"m": {RequestsPerMinute: 1000, RequestsPerMonth: 3}}})
			f.account(t, "acct_1", "m")
			k := f.auth(t, f.reissue(t, "acct_1").Secret)
			f.clock.Set(tc.last)
			for range 3 {
				mustAllow(t, f, k)
			}
			d := wantRefused(t, f, k, keys.ErrQuotaExceeded)
			if !d.Reset.Equal(tc.first) || d.RetryAfter != tc.first.Sub(tc.last) {
				t.Fatalf("refusal resets at %v after %v, want %v", d.Reset, d.RetryAfter, tc.first)
			}
			f.clock.Set(tc.first)
			for range 3 {
				mustAllow(t, f, k)
			}
			wantRefused(t, f, k, keys.ErrQuotaExceeded)
			if err := f.m.Flush(ctx()); err != nil {
				t.Fatal(err)
			}
			for _, m := range []time.Time{tc.last, tc.first} {
				u, _ := f.st.Usage(ctx(), "acct_1", k.ID, store.MonthOf(m))
				if u.Key != 3 || u.Account != 3 {
					t.Fatalf("stored usage for %v = %+v, want 3", store.MonthOf(m), u)
				}
			}
		})
	}
}

func TestRevokedMidWindow(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	c := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
	mustAllow(t, f, c)
	if err := f.m.Revoke(ctx(), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Allow(ctx(), c); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("Allow after Revoke with the old Key: %v", err)
	}
	exp := start.Add(time.Minute)
	e := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp}).Secret)
	mustAllow(t, f, e)
	f.clock.Set(exp)
	if _, err := f.m.Allow(ctx(), e); !errors.Is(err, keys.ErrExpiredKey) {
		t.Fatalf("Allow after expiry: %v", err)
	}
}

func TestSetTierAppliesToAllowAtOnce(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Free)
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for range 60 {
		mustAllow(t, f, k)
	}
	wantRefused(t, f, k, keys.ErrRateLimited)
	if err := f.m.SetTier(ctx(), "acct_1", keys.Quant); err != nil {
		t.Fatal(err)
	}
	// The bucket stays as full as it was, but now refills at the new rate:
	// the next request waits 1/1200 of a minute instead of 1/60.
	d := wantRefused(t, f, k, keys.ErrRateLimited)
	if d.Rate.Limit != 1200 || d.RetryAfter != 50*time.Millisecond {
		t.Fatalf("after SetTier: %+v", d)
	}
	f.clock.Add(50 * time.Millisecond)
	mustAllow(t, f, k)
}

func TestRestartKeepsQuota(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	cfg := keys.Config{Tiers: tiny, Clock: clock.Now}
	m1, err := keys.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.CreateAccount(ctx(), keys.Account{ID: "a", Tier: "tiny", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, _ := m1.Reissue(ctx(), "a")
	k, _ := m1.Authenticate(ctx(), iss.Secret)
	for range 8 {
		if _, err := m1.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, st, cfg)
	k = f.auth(t, iss.Secret)
	for range 10 {
		mustAllow(t, f, k) // the rate is 10 a minute; the quota has 12 left
	}
	clock.Add(time.Minute)
	mustAllow(t, f, k)
	mustAllow(t, f, k)
	wantRefused(t, f, k, keys.ErrQuotaExceeded)
}

// Two processes on one store see each other's counts at every flush.
func TestQuotaSharedAcrossManagers(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	cfg := keys.Config{Tiers: map[keys.Tier]keys.Limits{"m": {RequestsPerMinute: 10_000, RequestsPerMonth: 100}}, Clock: clock.Now}
	a := newFixtureOn(t, st, cfg)
	b := newFixtureOn(t, st, cfg)
	a.account(t, "acct_1", "m")
	tok := a.reissue(t, "acct_1").Secret
	ka, kb := a.auth(t, tok), b.auth(t, tok)
	allowN := func(f *fixture, k keys.Key, n int) {
		for range n {
			mustAllow(t, f, k)
		}
		if err := f.m.Flush(ctx()); err != nil {
			t.Fatal(err)
		}
	}
	allowN(a, ka, 50)
	allowN(b, kb, 30) // b loads 50 on first use, counts 30
	allowN(a, ka, 10) // a's flush brings back 90
	allowN(a, ka, 10)
	wantRefused(t, a, ka, keys.ErrQuotaExceeded)
	u, _ := st.Usage(ctx(), "acct_1", ka.ID, store.MonthOf(start))
	if u.Key != 100 || u.Account != 100 {
		t.Fatalf("stored = %+v, want 100", u)
	}
}

func TestQuotaExactUnderConcurrency(t *testing.T) {
	st := memstore.New()
	f := newFixtureOn(t, st, keys.Config{Tiers: map[keys.Tier]keys.Limits{"big": {RequestsPerMinute: 1_000_000, RequestsPerMonth: 5000}}})
	f.account(t, "acct_1", "big")
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 10_000 {
		wg.Go(func() {
			_, err := f.m.Allow(ctx(), k)
			switch {
			case err == nil:
				allowed.Add(1)
			case errors.Is(err, keys.ErrQuotaExceeded):
				refused.Add(1)
			default:
				t.Errorf("Allow: %v", err)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 5000 || refused.Load() != 5000 {
		t.Fatalf("allowed %d, refused %d; want 5000 each", allowed.Load(), refused.Load())
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	u, _ := st.Usage(ctx(), "acct_1", k.ID, store.MonthOf(start))
	if u.Key != 5000 || u.Account != 5000 {
		t.Fatalf("stored usage = %+v, want 5000", u)
	}
}

func TestIdleLimitStateIsDropped(t *testing.T) {
	f := newFixture(t, keys.Config{FlushInterval: time.Second})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	var ks []keys.Key
	for range 50 {
		ks = append(ks, f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret))
	}
	for _, k := range ks {
		mustAllow(t, f, k)
	}
	if n := keys.QuotaLen(f.m); n != 50 {
		t.Fatalf("held state for %d keys, want 50", n)
	}
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	keys.Sweep(f.m)
	if n := keys.QuotaLen(f.m); n != 50 {
		t.Fatalf("swept state that was just used: %d left", n)
	}
	f.clock.Add(2 * time.Minute)
	keys.Sweep(f.m)
	if n := keys.QuotaLen(f.m); n != 0 {
		t.Fatalf("after idling: state for %d keys, want 0", n)
	}
	// Dropped state is read back: the counts survive.
	if d := mustAllow(t, f, ks[0]); d.Quota.Remaining != 500_000-51 {
		t.Fatalf("remaining after reload = %d, want %d", d.Quota.Remaining, 500_000-51)
	}
}

func TestAllowN(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{"n": {RequestsPerMinute: 10, RequestsPerMonth: 100}}})
	f.account(t, "acct_1", "n")
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	if _, err := f.m.AllowN(ctx(), k, 0); !errors.Is(err, keys.ErrInvalidArgument) {
		t.Fatalf("AllowN(0): %v", err)
	}
	if d, err := f.m.AllowN(ctx(), k, 10); err != nil || d.Rate.Remaining != 0 || d.Quota.Remaining != 90 {
		t.Fatalf("AllowN(10) = %+v, %v", d, err)
	}
	if _, err := f.m.AllowN(ctx(), k, 1); !errors.Is(err, keys.ErrRateLimited) {
		t.Fatalf("after a full batch: %v", err)
	}
	f.clock.Add(time.Minute)
	if _, err := f.m.AllowN(ctx(), k, 11); !errors.Is(err, keys.ErrRateLimited) {
		t.Fatalf("AllowN above the burst: %v", err)
	}
	// The refused batch did not use quota.
	if d, err := f.m.AllowN(ctx(), k, 10); err != nil || d.Quota.Remaining != 80 {
		t.Fatalf("second AllowN(10) = %+v, %v", d, err)
	}
}

// fakeLimiter is a Config.Limiter that admits while allow is true.
type fakeLimiter struct {
	allow bool
	err   error
	calls []keys.RateRequest
}

func (l *fakeLimiter) Take(_ context.Context, r keys.RateRequest) (keys.RateResult, error) {
	l.calls = append(l.calls, r)
	if l.err != nil {
		return keys.RateResult{}, l.err
	}
	if !l.allow {
		return keys.RateResult{Limit: r.KeyRate, Reset: r.Now.Add(time.Minute), RetryAfter: 3 * time.Second}, nil
	}
	return keys.RateResult{Allowed: true, Limit: r.KeyRate, Remaining: 7, Reset: r.Now.Add(time.Second)}, nil
}

func TestCustomLimiter(t *testing.T) {
	lim := &fakeLimiter{allow: true}
	f := newFixture(t, keys.Config{Limiter: lim, Tiers: tiny})
	f.account(t, "acct_1", "tiny")
	f.reissue(t, "acct_1")
	k := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(4)}).Secret)
	d := mustAllow(t, f, k)
	if d.Rate.Remaining != 7 || d.Quota.Remaining != 19 {
		t.Fatalf("decision = %+v", d)
	}
	r := lim.calls[0]
	if r.AccountID != "acct_1" || r.KeyID != k.ID || r.KeyRate != 4 || r.PoolRate != 10 || r.N != 1 || !r.Now.Equal(start) {
		t.Fatalf("RateRequest = %+v", r)
	}
	lim.allow = false
	d = wantRefused(t, f, k, keys.ErrRateLimited)
	if d.RetryAfter != 3*time.Second || d.Quota.Remaining != 19 {
		t.Fatalf("refusal = %+v (the quota must be refunded)", d)
	}
	lim.err = errors.New("redis: connection refused")
	if _, err := f.m.Allow(ctx(), k); err == nil || errors.Is(err, keys.ErrRateLimited) {
		t.Fatalf("limiter failure: %v", err)
	}
	lim.allow, lim.err = true, nil
	if d := mustAllow(t, f, k); d.Quota.Remaining != 18 {
		t.Fatalf("quota after a refusal and a failure = %d, want 18", d.Quota.Remaining)
	}
}

func TestAllowRateSkipsQuota(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny})
	f.account(t, "acct_1", "tiny")
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for range 10 {
		d, err := f.m.AllowRate(ctx(), k)
		if err != nil || d.Quota != (keys.Window{}) {
			t.Fatalf("AllowRate = %+v, %v", d, err)
		}
	}
	if _, err := f.m.AllowRate(ctx(), k); !errors.Is(err, keys.ErrRateLimited) {
		t.Fatalf("AllowRate past the rate: %v", err)
	}
	f.clock.Add(time.Minute)
	if d := mustAllow(t, f, k); d.Quota.Remaining != 19 {
		t.Fatalf("AllowRate used quota: remaining %d", d.Quota.Remaining)
	}
}
