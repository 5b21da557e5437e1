package keys_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// Wall-clock steps move what is stored and shown (expiry, Reset) and
// nothing measured in memory: cache TTLs and rate buckets run on monotonic
// time. Each test runs with a fake Config.Clock stepped by hand and with
// the default clock (in a synctest bubble, its wall reading stepped with
// the StepWall hook).

// clockUnderTest is one of the two clocks: step moves the wall clock by d
// (either sign) without time passing; pass lets d of real time pass.
type clockUnderTest struct {
	step, pass func(d time.Duration)
	wall       func() time.Time
	// steppedIsElapsed: a forward step counts as time passing (true for a
	// fake Config.Clock, whose steps are how tests let time pass).
	steppedIsElapsed bool
}

func eachClock(t *testing.T, test func(t *testing.T, newManager func(st *memstore.Store, cfg keys.Config) *keys.Manager, c *clockUnderTest)) {
	t.Run("fake clock", func(t *testing.T) {
		clock := newFakeClock(start)
		c := &clockUnderTest{step: clock.Add, pass: clock.Add, wall: clock.Now, steppedIsElapsed: true}
		test(t, func(st *memstore.Store, cfg keys.Config) *keys.Manager {
			cfg.Clock = clock.Now
			m, err := keys.New(st, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return m
		}, c)
	})
	t.Run("default clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var managers []*keys.Manager
			var skew time.Duration
			c := &clockUnderTest{
				step: func(d time.Duration) {
					skew += d
					for _, m := range managers {
						keys.StepWall(m, d)
					}
				},
				pass: time.Sleep,
				wall: func() time.Time { return time.Now().Add(skew) },
			}
			defer func() {
				for _, m := range managers {
					m.Close()
				}
			}()
			test(t, func(st *memstore.Store, cfg keys.Config) *keys.Manager {
				m, err := keys.New(st, cfg)
				if err != nil {
					t.Fatal(err)
				}
				managers = append(managers, m)
				return m
			}, c)
		})
	})
}

// A key revoked by another process stays cached for at most CacheTTL,
// even when the wall clock steps back an hour in between.
func TestBackwardWallStepDoesNotStretchCacheTTL(t *testing.T) {
	eachClock(t, func(t *testing.T, newManager func(*memstore.Store, keys.Config) *keys.Manager, c *clockUnderTest) {
		st := memstore.New()
		server := newManager(st, keys.Config{CacheTTL: time.Second})
		other := newManager(st, keys.Config{}) // another process sharing the store
		if err := other.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		iss, err := other.Reissue(ctx(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.Authenticate(ctx(), iss.Secret); err != nil {
			t.Fatal(err)
		}
		if err := other.Revoke(ctx(), iss.Key.ID); err != nil {
			t.Fatal(err)
		}
		c.step(-time.Hour)
		// Within the TTL the cached key is still trusted: that is the
		// TTL's promise, and shows the key was cached.
		if _, err := server.Authenticate(ctx(), iss.Secret); err != nil {
			t.Fatalf("within the TTL: %v", err)
		}
		c.pass(1100 * time.Millisecond)
		if _, err := server.Authenticate(ctx(), iss.Secret); !errors.Is(err, keys.ErrRevokedKey) {
			t.Fatalf("1.1s after a revocation elsewhere, CacheTTL 1s, wall clock stepped back 1h: %v, want ErrRevokedKey", err)
		}
	})
}

// A backward step does not push a key's rate bucket into the future: the
// key that was allowed a moment ago is allowed now, and the Reset it is
// shown is in the stepped wall time.
func TestBackwardWallStepDoesNotRefuseActiveKey(t *testing.T) {
	eachClock(t, func(t *testing.T, newManager func(*memstore.Store, keys.Config) *keys.Manager, c *clockUnderTest) {
		m := newManager(memstore.New(), keys.Config{})
		if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Free, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		iss, err := m.Reissue(ctx(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		k, err := m.Authenticate(ctx(), iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for range 30 { // half the free tier's 60/min
			if _, err := m.Allow(ctx(), k); err != nil {
				t.Fatal(err)
			}
		}
		c.step(-10 * time.Minute)
		d, err := m.Allow(ctx(), k)
		if err != nil || !d.Allowed {
			t.Fatalf("after a 10 min backward step: %+v, %v; want allowed", d, err)
		}
		if d.Rate.Remaining != 29 {
			t.Errorf("Remaining = %d, want 29: the bucket neither refilled nor emptied", d.Rate.Remaining)
		}
		now := c.wall()
		if want := now.Add(31 * time.Second); d.Reset.Before(now) || d.Reset.After(want.Add(time.Second)) {
			t.Errorf("Reset = %v, want about %v (in the stepped wall time)", d.Reset, want)
		}
	})
}

// A forward step of the wall clock expires a key by its stored expiry (wall
// time), but only a fake clock's forward movement counts as time passing
// for the rate: under the default clock the pool stays empty.
func TestForwardWallStep(t *testing.T) {
	eachClock(t, func(t *testing.T, newManager func(*memstore.Store, keys.Config) *keys.Manager, c *clockUnderTest) {
		m := newManager(memstore.New(), keys.Config{Tiers: map[keys.Tier]keys.Limits{"one": {RequestsPerMinute: 1, RequestsPerMonth: 100}}})
		if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: "one", EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		rootIss, err := m.Reissue(ctx(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		root, err := m.Authenticate(ctx(), rootIss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		exp := c.wall().Add(5 * time.Minute)
		iss, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		k, err := m.Authenticate(ctx(), iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Allow(ctx(), k); !errors.Is(err, keys.ErrRateLimited) {
			t.Fatalf("second request of a 1/min key: %v", err)
		}
		c.step(10 * time.Minute)
		if _, err := m.Authenticate(ctx(), iss.Secret); !errors.Is(err, keys.ErrExpiredKey) {
			t.Fatalf("past its expiry by the wall clock: %v, want ErrExpiredKey", err)
		}
		if _, err := m.Allow(ctx(), k); !errors.Is(err, keys.ErrExpiredKey) {
			t.Fatalf("Allow past its expiry by the wall clock: %v, want ErrExpiredKey", err)
		}
		// The root's own bucket is full, but the account's pool (1/min) was
		// emptied by the child a moment ago.
		_, err = m.Allow(ctx(), root)
		switch {
		case c.steppedIsElapsed && err != nil:
			t.Fatalf("fake clock 10 min on: %v, want allowed", err)
		case !c.steppedIsElapsed && !errors.Is(err, keys.ErrRateLimited):
			t.Fatalf("default clock stepped 10 min forward, no time passed: %v, want ErrRateLimited", err)
		}
	})
}
