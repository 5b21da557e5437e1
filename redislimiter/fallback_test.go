package redislimiter_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
	"github.com/keyward/keys/redislimiter"
)

// TestFallbackAndBack stops Redis under a Limiter: requests are still
// decided (in-process, with the rates enforced), the change is logged
// once, and when Redis is back the next retry returns to it, logged once.
func TestFallbackAndBack(t *testing.T) {
	s := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	clock := &fakeClock{now: start}
	var logs logBuffer
	// A retry interval of an hour: the test lets a retry happen with
	// RetryNow rather than sleep.
	l := redislimiter.New(c, redislimiter.Options{Clock: clock.Now, Timeout: 10 * time.Second, RetryInterval: time.Hour, Logger: logs.logger()})
	r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 5, PoolRate: 5, N: 1, Now: start}
	for range 2 {
		if res := take(t, l, r); !res.Allowed {
			t.Fatalf("on Redis: %+v", res)
		}
	}
	if got := len(s.Keys()); got != 2 {
		t.Fatalf("%d keys in Redis, want 2", got)
	}

	s.Close()
	// The in-process fallback starts afresh: 5 pass, the 6th does not.
	for i := range 5 {
		if res := take(t, l, r); !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("fallback request %d: %+v", i, res)
		}
	}
	if res := take(t, l, r); res.Allowed || res.RetryAfter != 12*time.Second {
		t.Fatalf("fallback past the rate: %+v", res)
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 || !strings.Contains(logs.String(), "Redis failed") {
		t.Fatalf("log after the outage, want one warning:\n%s", logs.String())
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// Within the retry interval the fallback still decides, without
	// trying Redis.
	if res := take(t, l, r); res.Allowed {
		t.Fatalf("fallback within the retry interval: %+v", res)
	}
	if strings.Contains(logs.String(), "level=INFO") {
		t.Fatalf("back on Redis before a retry:\n%s", logs.String())
	}
	// Let the next request retry: Redis decides again, from its own state
	// (2 of 5 used before the outage, so 3 pass).
	redislimiter.RetryNow(l)
	for i := range 3 {
		if res := take(t, l, r); !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("back on Redis, request %d: %+v", i, res)
		}
	}
	if res := take(t, l, r); res.Allowed {
		t.Fatalf("back on Redis past the rate: %+v", res)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || strings.Count(out, "level=INFO") != 1 || !strings.Contains(out, "Redis answers again") {
		t.Fatalf("log, want one warning and one recovery:\n%s", out)
	}
}

// TestSlowRedis: a Redis that accepts connections and never answers costs
// a request the timeout, once; the rest fall back at once. Both with a
// client that bounds its reads by the context's deadline and one that
// does not.
func TestSlowRedis(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain client", true: "ContextTimeoutEnabled"}[ctxTimeout], func(t *testing.T) {
			testSlowRedis(t, ctxTimeout)
		})
	}
}

func testSlowRedis(t *testing.T, ctxTimeout bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // read nothing, answer nothing
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxRetries: -1,
		ContextTimeoutEnabled: ctxTimeout})
	defer c.Close()
	var logs logBuffer
	l := redislimiter.New(c, redislimiter.Options{Timeout: 20 * time.Millisecond, Logger: logs.logger()})
	r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 5, PoolRate: 5, N: 1, Now: start}
	t0 := time.Now()
	for range 5 {
		if res := take(t, l, r); !res.Allowed {
			t.Fatalf("fallback: %+v", res)
		}
	}
	// One timeout (20 ms); the bound is loose for a loaded machine, but
	// far below the client's one-minute read timeout.
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("5 requests took %v", d)
	}
	if res := take(t, l, r); res.Allowed {
		t.Fatalf("fallback past the rate: %+v", res)
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 || !strings.Contains(logs.String(), "no answer from Redis") {
		t.Fatalf("log, want one warning about the timeout:\n%s", logs.String())
	}
}

// TestCallerCancelIsNotAnOutage: a request whose own context is done is
// decided in-process without marking Redis down.
func TestCallerCancelIsNotAnOutage(t *testing.T) {
	s := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	var logs logBuffer
	l := redislimiter.New(c, redislimiter.Options{Logger: logs.logger()})
	cctx, cancel := contextWithCancel()
	cancel()
	r := keys.RateRequest{AccountID: "acct_1", KeyID: uuid.New(), KeyRate: 5, PoolRate: 5, N: 1, Now: start}
	if res, err := l.Take(cctx, r); err != nil || !res.Allowed {
		t.Fatalf("Take with a cancelled context: %+v, %v", res, err)
	}
	if logs.String() != "" || redislimiter.Down(l) {
		t.Fatalf("a cancelled request marked Redis down:\n%s", logs.String())
	}
}
