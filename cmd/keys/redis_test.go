package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// TestServeSharesRatesThroughRedis: two servers on one database and one
// Redis admit the demo account's rate (pro, 300 per minute) once between
// them, not once each; with Redis gone they keep answering, each on its
// own, and say so once in the log.
func TestServeSharesRatesThroughRedis(t *testing.T) {
	rs := miniredis.RunT(t)
	// Redis's clock stands still, so the count is exact however slowly
	// the requests go.
	rs.SetTime(time.Now())
	// A call slower than the limiter's deadline would be decided in-process
	// (a fresh bucket) and spoil the count on a loaded machine.
	t.Setenv("KEYS_REDIS_TIMEOUT", "5s")
	url := "redis://" + rs.Addr() + "/0"
	db := filepath.Join(t.TempDir(), "keys.db")
	a := serve(t, db, "-redis", url)
	b := serve(t, db, "-demo=false", "-redis", url)
	root := a.secret
	for i := range 300 {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		if code, body := call(t, "GET", srv.base+"/v1/ping", root); code != http.StatusOK {
			t.Fatalf("request %d: %d %v", i, code, body)
		}
	}
	for _, srv := range []*server{a, b} {
		if code, body := call(t, "GET", srv.base+"/v1/ping", root); code != http.StatusTooManyRequests {
			t.Fatalf("request 301: %d %v, want 429", code, body)
		}
	}

	// Redis down: no 5xx; each server decides on its own (a fresh bucket).
	rs.Close()
	for _, srv := range []*server{a, b} {
		for range 3 {
			if code, body := call(t, "GET", srv.base+"/v1/ping", root); code != http.StatusOK {
				t.Fatalf("with Redis down: %d %v", code, body)
			}
		}
	}
	a.stop(t)
	b.stop(t)
	for _, srv := range []*server{a, b} {
		if n := strings.Count(srv.stderr.String(), "redislimiter: Redis failed"); n != 1 {
			t.Fatalf("the outage logged %d times, want once; stderr:\n%s", n, srv.stderr)
		}
	}
}

func TestRedisLimiterURL(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if lim, closer, err := redisLimiter(context.Background(), "", 0, log); lim != nil || err != nil || closer() != nil {
		t.Fatalf("no URL: %v, %v", lim, err)
	}
	if _, _, err := redisLimiter(context.Background(), "http://example.com", 0, log); err == nil {
		t.Fatal("a URL that is not Redis's was accepted")
	}
	// A Redis that does not answer is not an error: the limiter falls back.
	lim, closer, err := redisLimiter(context.Background(), "redis://127.0.0.1:1/0", 0, log)
	if lim == nil || err != nil {
		t.Fatalf("unreachable Redis: %v, %v", lim, err)
	}
	closer()
}
