package redislimiter_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys/redislimiter"
)

var start = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

// fakeClock is an Options.Clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// backend is a Redis to run a test against, with a key prefix of the
// test's own.
type backend struct {
	client redis.UniversalClient
	prefix string
	real   bool // a real Redis, whose clock runs (miniredis's TTLs stand still)
}

// options are the Options of a test on b: a generous timeout, so that a
// slow moment of a loaded machine does not fall back, which would change
// the answers; clock may be nil for Redis's own.
func (b backend) options(clock *fakeClock) redislimiter.Options {
	o := redislimiter.Options{Prefix: b.prefix, Timeout: 10 * time.Second}
	if clock != nil {
		o.Clock = clock.Now
	}
	return o
}

// backends runs fn against miniredis and, when KEYS_TEST_REDIS_URL is set,
// against that real Redis.
func backends(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("miniredis", func(t *testing.T) {
		s := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: s.Addr()})
		t.Cleanup(func() { c.Close() })
		fn(t, backend{client: c, prefix: "test:"})
	})
	t.Run("redis", func(t *testing.T) {
		fn(t, realRedis(t))
	})
}

// realRedis connects to the Redis of KEYS_TEST_REDIS_URL and removes the
// test's keys (its prefix's only) when the test ends.
func realRedis(t testing.TB) backend {
	t.Helper()
	url := os.Getenv("KEYS_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KEYS_TEST_REDIS_URL is unset in CI")
		}
		t.Skip("no real Redis: set KEYS_TEST_REDIS_URL=redis://127.0.0.1:6379/15 to run this (bash .ci/run does)")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("KEYS_TEST_REDIS_URL: %v", err)
	}
	// As keys serve builds it: the Limiter then needs no goroutine per
	// call (the miniredis runs test the other path).
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	if err := c.Ping(ctx()).Err(); err != nil {
		c.Close()
		t.Fatalf("KEYS_TEST_REDIS_URL=%s: %v", url, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "keystest:" + hex.EncodeToString(r[:]) + ":"
	t.Cleanup(func() {
		defer c.Close()
		iter := c.Scan(ctx(), 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx()) {
			c.Del(ctx(), iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("removing the test's keys: %v", err)
		}
	})
	return backend{client: c, prefix: prefix, real: true}
}

// logBuffer is a slog.Logger writing to a buffer safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
