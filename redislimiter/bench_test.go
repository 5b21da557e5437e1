package redislimiter_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/redislimiter"
)

// BenchmarkRedis measures a decision on the real Redis of
// KEYS_TEST_REDIS_URL beside its floor, measured in the same run: a raw
// EVALSHA round trip of a script that only returns, through the same
// client. Every request is admitted (the rate is the highest), so each
// writes both buckets as in the steady state.
func BenchmarkRedis(b *testing.B) {
	be := realRedis(b)
	trivial := redis.NewScript(`return 1`)
	if err := trivial.Load(ctx(), be.client).Err(); err != nil {
		b.Fatal(err)
	}
	b.Run("floor=raw-evalsha", func(b *testing.B) {
		for b.Loop() {
			if err := trivial.EvalSha(ctx(), be.client, []string{be.prefix + "x"}).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A timeout far above a round trip: the benchmark measures Redis, and
	// a loaded machine must not make it measure the fallback.
	opts := redislimiter.Options{Prefix: be.prefix, Timeout: 5 * time.Second}
	lim := redislimiter.New(be.client, opts)
	b.Run("Take", func(b *testing.B) {
		r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: redislimiter.MaxRate, PoolRate: redislimiter.MaxRate, N: 1, Now: time.Now()}
		for b.Loop() {
			if res, err := lim.Take(ctx(), r); err != nil || !res.Allowed {
				b.Fatal(res, err)
			}
		}
		if redislimiter.Down(lim) {
			b.Fatal("fell back")
		}
	})
	b.Run("Allow", func(b *testing.B) { benchAllow(b, lim) })
	// A client without ContextTimeoutEnabled: each call runs in a
	// goroutine of its own so that the timeout holds.
	opt := be.client.(*redis.Client).Options()
	plainOpt := *opt
	plainOpt.ContextTimeoutEnabled = false
	plain := redis.NewClient(&plainOpt)
	defer plain.Close()
	b.Run("Allow/plain-client", func(b *testing.B) {
		benchAllow(b, redislimiter.New(plain, opts))
	})
}

// BenchmarkRedisPaired alternates a raw EVALSHA round trip and an Allow
// through redislimiter in one loop and reports the mean of each and their
// ratio: on a shared machine whose load swings from second to second, the
// pair sees the same load, where sub-benchmarks run one after the other
// do not. ns/op is the pair.
func BenchmarkRedisPaired(b *testing.B) {
	be := realRedis(b)
	trivial := redis.NewScript(`return 1`)
	if err := trivial.Load(ctx(), be.client).Err(); err != nil {
		b.Fatal(err)
	}
	lim := redislimiter.New(be.client, redislimiter.Options{Prefix: be.prefix, Timeout: 5 * time.Second})
	m, k := allowSetup(b, lim)
	var floor, allow time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := trivial.EvalSha(ctx(), be.client, []string{be.prefix + "x"}).Err(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if d, err := m.Allow(ctx(), k); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
		floor, allow = floor+t1.Sub(t0), allow+time.Since(t1)
	}
	if redislimiter.Down(lim) {
		b.Fatal("fell back")
	}
	n := float64(b.N)
	b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns/op")
	b.ReportMetric(float64(allow.Nanoseconds())/n, "allow-ns/op")
	b.ReportMetric(float64(allow)/float64(floor), "x-floor")
}

// allowSetup returns a Manager on lim and a key of an account whose limits
// are never reached.
func allowSetup(b *testing.B, lim *redislimiter.Limiter) (*keys.Manager, keys.Key) {
	tiers := map[keys.Tier]keys.Limits{"t": {RequestsPerMinute: keys.MaxRequestsPerMinute, RequestsPerMonth: 1 << 50}}
	m, err := keys.New(memstore.New(), keys.Config{Tiers: tiers, Limiter: lim})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_b", Tier: "t", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	iss, err := m.Reissue(ctx(), "acct_b")
	if err != nil {
		b.Fatal(err)
	}
	k, err := m.Authenticate(ctx(), iss.Secret)
	if err != nil {
		b.Fatal(err)
	}
	return m, k
}

func benchAllow(b *testing.B, lim *redislimiter.Limiter) {
	m, k := allowSetup(b, lim)
	for b.Loop() {
		if d, err := m.Allow(ctx(), k); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
	if redislimiter.Down(lim) {
		b.Fatal("fell back")
	}
}
