package redislimiter_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/redislimiter"
)

func take(t *testing.T, l keys.Limiter, r keys.RateRequest) keys.RateResult {
	t.Helper()
	res, err := l.Take(ctx(), r)
	if err != nil {
		t.Fatalf("Take(%+v): %v", r, err)
	}
	return res
}

func TestBurstThenSteady(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		clock := &fakeClock{now: start}
		l := redislimiter.New(b.client, b.options(clock))
		r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 60, PoolRate: 60, N: 1}
		for i := range 60 {
			res := take(t, l, r)
			if !res.Allowed || res.Limit != 60 || res.Remaining != 59-i || res.RetryAfter != 0 {
				t.Fatalf("request %d: %+v", i, res)
			}
		}
		res := take(t, l, r)
		if res.Allowed || res.RetryAfter != time.Second || res.Remaining != 0 || !res.Reset.Equal(start.Add(time.Minute)) {
			t.Fatalf("61st request: %+v, want refused for 1s, full at %v", res, start.Add(time.Minute))
		}
		// The window edge: a microsecond early is still refused.
		clock.Add(time.Second - time.Microsecond)
		if res := take(t, l, r); res.Allowed {
			t.Fatalf("a microsecond early: %+v", res)
		}
		clock.Add(time.Microsecond)
		if res := take(t, l, r); !res.Allowed {
			t.Fatalf("a second later: %+v", res)
		}
		// A refused batch changes nothing.
		clock.Add(10 * time.Second)
		if res := take(t, l, keys.RateRequest{AccountID: "acct_1", KeyID: r.KeyID, KeyRate: 60, PoolRate: 60, N: 11}); res.Allowed {
			t.Fatalf("11 with 10 left: %+v", res)
		}
		if res := take(t, l, keys.RateRequest{AccountID: "acct_1", KeyID: r.KeyID, KeyRate: 60, PoolRate: 60, N: 10}); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("10 with 10 left: %+v", res)
		}
	})
}

// TestPoolBinds: two keys of one account share the pool; the binding
// bucket is the one with fewer requests left.
func TestPoolBinds(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		clock := &fakeClock{now: start}
		l := redislimiter.New(b.client, b.options(clock))
		a := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 4, PoolRate: 10, N: 1}
		c := a
		c.KeyID, c.KeyRate = uuid.New(), 10
		for i := range 4 {
			if res := take(t, l, a); !res.Allowed || res.Limit != 4 || res.Remaining != 3-i {
				t.Fatalf("key a, request %d: %+v", i, res)
			}
		}
		if res := take(t, l, a); res.Allowed || res.Limit != 4 || res.RetryAfter != 15*time.Second {
			t.Fatalf("key a past its rate: %+v", res)
		}
		for i := range 6 {
			// c's own bucket has 10-1-i left, the pool 6-1-i.
			if res := take(t, l, c); !res.Allowed || res.Limit != 10 || res.Remaining != 5-i {
				t.Fatalf("key c, request %d: %+v, want the pool to bind", i, res)
			}
		}
		if res := take(t, l, c); res.Allowed || res.Limit != 10 || res.RetryAfter != 6*time.Second {
			t.Fatalf("the pool is empty: %+v", res)
		}
		// Other accounts have pools of their own.
		d := keys.RateRequest{AccountID: "acct_2", KeyID: c.KeyID, KeyRate: 4, PoolRate: 10, N: 1}
		if res := take(t, l, d); !res.Allowed {
			t.Fatalf("another account: %+v", res)
		}
	})
}

// TestMatchesLocalLimiter runs one random sequence through the Redis
// limiter and the in-process one and wants the same answers: the two are
// one algorithm (the rates divide a minute into whole microseconds, so the
// two resolutions agree).
func TestMatchesLocalLimiter(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		clock := &fakeClock{now: start}
		l := redislimiter.New(b.client, b.options(clock))
		local := keys.NewLocalLimiter()
		ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
		rates := []int{4, 10, 60}
		rng := rand.New(rand.NewPCG(3, 4))
		refused := 0
		for i := range 1500 {
			if rng.IntN(3) == 0 {
				clock.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
			}
			k := rng.IntN(3)
			r := keys.RateRequest{AccountID: "acct_1", KeyID: ids[k], KeyRate: rates[k], PoolRate: 60, N: 1 + rng.IntN(3), Now: clock.Now()}
			got, want := take(t, l, r), take(t, local, r)
			if got != want {
				t.Fatalf("request %d (%+v):\nredis %+v\nlocal %+v", i, r, got, want)
			}
			if !got.Allowed {
				refused++
			}
		}
		if refused < 100 || refused > 1400 {
			t.Fatalf("%d of 1500 refused: the sequence does not exercise both outcomes", refused)
		}
	})
}

// TestRedisTime: without Options.Clock the time is Redis's, not the
// request's.
func TestRedisTime(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		l := redislimiter.New(b.client, b.options(nil))
		// A Now far off must not matter.
		r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 10, PoolRate: 10, N: 1, Now: time.Unix(0, 0)}
		before := time.Now()
		for range 10 {
			if res := take(t, l, r); !res.Allowed {
				t.Fatalf("burst: %+v", res)
			}
		}
		res := take(t, l, r)
		// Redis's clock, read on this host's: the reset is a minute after
		// the burst (give or take a loaded machine's scheduling).
		if res.Allowed || res.Reset.Before(before.Add(50*time.Second)) || res.Reset.After(time.Now().Add(70*time.Second)) {
			t.Fatalf("after the burst: %+v (started %v)", res, before)
		}
	})
}

// TestKeysExpire: the buckets live under the prefix and expire when full
// again.
func TestKeysExpire(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		l := redislimiter.New(b.client, b.options(nil))
		id := uuid.New()
		take(t, l, keys.RateRequest{AccountID: "acct_1", KeyID: id, KeyRate: 60, PoolRate: 6, N: 3})
		ks, err := b.client.Keys(ctx(), b.prefix+"*").Result()
		if err != nil || len(ks) != 2 {
			t.Fatalf("keys under the prefix: %v, %v", ks, err)
		}
		for _, k := range ks {
			ttl, err := b.client.PTTL(ctx(), k).Result()
			// Three requests: 3 s of a 60/min bucket, 30 s of a 6/min one.
			want := 3 * time.Second
			if !strings.HasSuffix(k, "}") {
				if !strings.HasSuffix(k, id.String()) {
					t.Fatalf("key bucket named %q", k)
				}
			} else {
				want = 30 * time.Second
			}
			// miniredis's TTLs do not count down: exact. A real Redis's
			// do, by however long this machine took since the request:
			// at most want, and not far below (the 30s bucket's 5s of
			// slack still tells it from the 3s one).
			lo := want
			if b.real {
				lo = want - 5*time.Second
			}
			if err != nil || ttl <= 0 || ttl < lo || ttl > want {
				t.Fatalf("PTTL %s = %v, %v; want %v (down to %v)", k, ttl, err, want, lo)
			}
		}
	})
}

// TestScriptReloaded: a Redis that lost the script (a restart, SCRIPT
// FLUSH) gets it again.
func TestScriptReloaded(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		clock := &fakeClock{now: start}
		l := redislimiter.New(b.client, b.options(clock))
		r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 2, PoolRate: 2, N: 1}
		take(t, l, r)
		if err := b.client.ScriptFlush(ctx()).Err(); err != nil {
			t.Fatal(err)
		}
		take(t, l, r)
		if res := take(t, l, r); res.Allowed {
			t.Fatalf("third of 2/min after SCRIPT FLUSH: %+v (the count must have stayed in Redis)", res)
		}
	})
}
