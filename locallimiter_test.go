package keys_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// TestLocalLimiterDecidesAsBuiltIn runs one random sequence of requests
// through a Manager with the built-in limiter and one with a LocalLimiter,
// over one store and one clock, and wants the same rate decisions.
func TestLocalLimiterDecidesAsBuiltIn(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	tiers := map[keys.Tier]keys.Limits{"t": {RequestsPerMinute: 10, RequestsPerMonth: 1 << 40}}
	a := newFixtureOn(t, st, keys.Config{Clock: clock.Now, Tiers: tiers})
	b := newFixtureOn(t, st, keys.Config{Clock: clock.Now, Tiers: tiers, Limiter: keys.NewLocalLimiter()})
	a.account(t, "acct_1", "t")
	root := a.reissue(t, "acct_1").Secret
	child := a.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(4)}).Secret
	// Each Manager holds its own rate state: the same sequence must lead
	// both to the same decisions.
	ka := []keys.Key{a.auth(t, root), a.auth(t, child)}
	kb := []keys.Key{b.auth(t, root), b.auth(t, child)}
	rng := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for i := range 2000 {
		if rng.IntN(3) == 0 {
			clock.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		}
		which, n := rng.IntN(2), 1+rng.IntN(3)
		da, errA := a.m.AllowN(ctx(), ka[which], n)
		db, errB := b.m.AllowN(ctx(), kb[which], n)
		if errA != errB || da.Allowed != db.Allowed || da.Rate != db.Rate || da.RetryAfter != db.RetryAfter {
			t.Fatalf("request %d (key %d, n %d):\nbuilt-in %+v, %v\nlocal    %+v, %v", i, which, n, da, errA, db, errB)
		}
		if !da.Allowed {
			refused++
		}
	}
	if refused < 100 || refused > 1900 {
		t.Fatalf("%d of 2000 refused: the sequence does not exercise both outcomes", refused)
	}
}

func TestLocalLimiterForgetsFullBuckets(t *testing.T) {
	l := keys.NewLocalLimiter()
	r := keys.RateRequest{AccountID: "a", KeyRate: 60, PoolRate: 60, N: 1, Now: start}
	for i := range 100 {
		r.AccountID = string(rune('a'+i%26)) + string(rune('a'+i/26))
		if res, _ := l.Take(ctx(), r); !res.Allowed {
			t.Fatalf("Take: %+v", res)
		}
	}
	if n := keys.LocalLimiterLen(l); n != 200 {
		t.Fatalf("%d buckets held, want 200", n)
	}
	// A minute later every bucket is full again; the next request in each
	// shard sweeps it.
	r.Now = start.Add(time.Minute + time.Second)
	for i := range 100 {
		r.AccountID = string(rune('a'+i%26)) + string(rune('a'+i/26))
		l.Take(ctx(), r)
	}
	if n := keys.LocalLimiterLen(l); n != 200 {
		t.Fatalf("%d buckets held after the sweep, want the 200 just used", n)
	}
	r.Now = start.Add(3 * time.Minute)
	r.AccountID = "zz"
	for range 64 * 32 {
		// Reach every shard: accounts spread by hash.
		r.AccountID += "z"
		l.Take(ctx(), r)
	}
	if n := keys.LocalLimiterLen(l); n != 2*64*32 {
		t.Fatalf("%d buckets held, want only the %d of the last minute", n, 2*64*32)
	}
}
