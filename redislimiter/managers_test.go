package redislimiter_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/redislimiter"
)

// TestManagersShareRates: several Managers over one store, each with a
// Limiter of its own on one Redis (as several processes would be), admit
// exactly a key's rate in a concurrent burst, and exactly the pool's
// across the keys of an account.
func TestManagersShareRates(t *testing.T) {
	backends(t, func(t *testing.T, b backend) {
		st := memstore.New()
		tiers := map[keys.Tier]keys.Limits{"t": {RequestsPerMinute: 20, RequestsPerMonth: 1 << 40}}
		const managers = 3
		ms := make([]*keys.Manager, managers)
		// A clock that stands still: the count must be exact however long
		// the burst takes on a loaded machine (TestRedisTime covers Redis's
		// clock).
		clock := &fakeClock{now: start}
		for i := range ms {
			opts := b.options(clock)
			m, err := keys.New(st, keys.Config{Tiers: tiers, Limiter: redislimiter.New(b.client, opts)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			ms[i] = m
		}
		if err := ms[0].CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: "t", EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		root, err := ms[0].Reissue(ctx(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		child, err := ms[0].IssueChild(ctx(), "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(8)})
		if err != nil {
			t.Fatal(err)
		}
		burst := func(tokens ...string) int64 {
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for i, m := range ms {
				for _, tok := range tokens {
					k, err := m.Authenticate(ctx(), tok)
					if err != nil {
						t.Fatal(err)
					}
					for j := range 15 {
						wg.Go(func() {
							d, err := m.Allow(ctx(), k)
							switch {
							case err == nil && d.Allowed:
								admitted.Add(1)
							case !errors.Is(err, keys.ErrRateLimited):
								t.Errorf("manager %d, request %d: %+v, %v", i, j, d, err)
							}
						})
					}
				}
			}
			wg.Wait()
			return admitted.Load()
		}
		// The child's own 8 per minute, across three Managers.
		if n := burst(child.Secret); n != 8 {
			t.Fatalf("a burst of 45 on a child of 8/min admitted %d", n)
		}
		// The pool's 20: 8 already used, 12 left for the root and the child
		// (whose own bucket is empty).
		if n := burst(root.Secret, child.Secret); n != 12 {
			t.Fatalf("a burst of 90 on a pool with 12 left admitted %d", n)
		}
	})
}

func ptr[T any](v T) *T { return &v }
