package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// fakeClock is a Config.Clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

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

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var start = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

type fixture struct {
	m     *keys.Manager
	st    store.Store
	clock *fakeClock
}

// newFixture returns a Manager over a fresh memstore with a fake clock,
// closed when the test ends.
func newFixture(t testing.TB, cfg keys.Config) *fixture {
	t.Helper()
	return newFixtureOn(t, memstore.New(), cfg)
}

func newFixtureOn(t testing.TB, st store.Store, cfg keys.Config) *fixture {
	t.Helper()
	clock := newFakeClock(start)
	if cfg.Clock == nil {
		cfg.Clock = clock.Now
	}
	// No background flush or sweep unless the test asks for one: on the
	// default 1s, one would land at a random point of a test (adding to
	// AllocsPerRun's count, to a count of spans, or sweeping what the test
	// just cached). Tests flush, sweep and tick by hand (Flush,
	// keys.Sweep, keys.Tick), or set FlushInterval.
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour
	}
	m, err := keys.New(st, cfg)
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{m: m, st: st, clock: clock}
}

func ctx() context.Context { return context.Background() }

// account creates a verified account of the given tier.
func (f *fixture) account(t testing.TB, id string, tier keys.Tier) {
	t.Helper()
	if err := f.m.CreateAccount(ctx(), keys.Account{ID: id, Tier: tier, EmailVerified: true}); err != nil {
		t.Fatalf("CreateAccount(%q): %v", id, err)
	}
}

func (f *fixture) reissue(t testing.TB, id string) keys.Issued {
	t.Helper()
	iss, err := f.m.Reissue(ctx(), id)
	if err != nil {
		t.Fatalf("Reissue(%q): %v", id, err)
	}
	return iss
}

func (f *fixture) child(t testing.TB, id string, opts keys.ChildOptions) keys.Issued {
	t.Helper()
	iss, err := f.m.IssueChild(ctx(), id, opts)
	if err != nil {
		t.Fatalf("IssueChild(%q): %v", id, err)
	}
	return iss
}

func (f *fixture) auth(t testing.TB, token string) keys.Key {
	t.Helper()
	k, err := f.m.Authenticate(ctx(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }
