package keys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/keyward/keys/store"
)

// ErrBusy is returned by Authenticate when a token is not in the cache and
// this Manager has used its budget of store lookups for such tokens
// (Config.LookupRate). The key may well exist: the caller should retry
// shortly (the HTTP adapter answers 503 with Retry-After: 1), never treat
// it as an unknown key.
var ErrBusy = errors.New("keys: too many lookups of uncached keys; retry shortly")

// DefaultLookupRate is Config.LookupRate's default: store lookups per
// second for tokens not in the cache.
const DefaultLookupRate = 100

// Negative cache bounds: unknown hashes are remembered this long, at most
// this many (per shard times shards). A short TTL because the hash of a
// key issued later by another process could, in principle, have been
// presented before it existed; every store notification drops it anyway.
const (
	negativeTTL      = 2 * time.Second
	negativePerShard = 1024
)

// lookupGuard is the forged-token defence (DESIGN 5.3, 5.6): a token that
// is not in the key cache reaches the store at most once per negativeTTL
// when it is unknown (the negative cache), once however many requests
// present it at the same time (shared misses), and only within a
// per-process budget of lookups per second; past the budget Authenticate
// returns ErrBusy, never ErrUnknownKey, since the key might exist. A flood
// of forged tokens therefore costs the store at most the budget, whether
// the tokens repeat or not.
type lookupGuard struct {
	neg    negativeCache
	flight singleflight.Group
	budget *rate.Limiter // nil: no budget
}

func newLookupGuard(perSecond int) *lookupGuard {
	g := &lookupGuard{}
	g.neg.init()
	if perSecond > 0 {
		g.budget = rate.NewLimiter(rate.Limit(perSecond), perSecond)
	}
	return g
}

// take spends one lookup of the budget at now (monotonic ns), reporting
// whether there was one.
func (g *lookupGuard) take(now int64) bool {
	return g.budget == nil || g.budget.AllowN(time.Unix(0, now), 1)
}

// lookup resolves a hash the cache does not hold, through the negative
// cache, the shared misses and the budget. Waiters on a shared miss each
// keep to their own ctx; the read itself runs under the Manager's
// StoreTimeout, so one caller giving up does not fail the others.
//
// h is taken by value: the shared miss runs on another goroutine, and a
// pointer would move the caller's hash to the heap on the warm path too.
func (m *Manager) lookup(ctx context.Context, token string, hv store.Hash, now instant) (*entry, error) {
	h := &hv
	g := m.guard
	if g == nil {
		return m.resolve(ctx, h, now) // the cache is off: no defence
	}
	if g.neg.has(h, now.mono) {
		return nil, ErrUnknownKey
	}
	// Vouched for, and so outside the budget: a key whose entry is still
	// in the cache (stale, not yet swept), or a token with a
	// valid keyed tag (tokentag.go). Checked before the shared read, so a
	// refusal costs no goroutine.
	if !m.cache.known(h) && !m.format.hasTag(token) && !g.take(now.mono) {
		m.lookupsRefused.Add(1)
		return nil, ErrBusy
	}
	ch := g.flight.DoChan(string(h[:]), func() (any, error) {
		// A shared read that ended just before this one began has cached
		// the key: no second read.
		if e := m.cache.get(h, now.mono); e != nil {
			return e, nil
		}
		gen := g.neg.generation()
		rctx := ctx
		if m.cfg.StoreTimeout >= 0 {
			// Bounded by StoreTimeout all the same (resolve's storeCtx).
			rctx = context.WithoutCancel(ctx)
		}
		e, err := m.resolve(rctx, h, now)
		if errors.Is(err, ErrUnknownKey) {
			g.neg.put(h, now.mono, gen)
		}
		return e, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		e := r.Val.(*entry)
		if !m.cache.current(e) {
			// The shared read began before a change to the key's account
			// through this Manager (a revocation, say) that may have
			// returned before this call began: its answer may predate the
			// change, and this call must see it. Read again, alone.
			return m.resolve(ctx, h, m.now())
		}
		return e, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("keys: resolving key: %w", ctx.Err())
	}
}

// negativeCache remembers hashes the store did not know, so that a
// repeated forged token costs a map lookup. It is dropped whole on any
// store notification (a new key may have been made elsewhere).
type negativeCache struct {
	gen    atomic.Uint64
	shards [cacheShards]negShard
}

type negShard struct {
	mu sync.Mutex
	m  map[store.Hash]int64 // hash → monotonic ns when it may be asked again
	_  [104]byte
}

func (c *negativeCache) init() {
	for i := range c.shards {
		c.shards[i].m = make(map[store.Hash]int64)
	}
}

func (c *negativeCache) shard(h *store.Hash) *negShard { return &c.shards[h[1]&(cacheShards-1)] }

// generation is read before a store read whose "unknown" may be put.
func (c *negativeCache) generation() uint64 { return c.gen.Load() }

func (c *negativeCache) has(h *store.Hash, now int64) bool {
	s := c.shard(h)
	s.mu.Lock()
	until, ok := s.m[*h]
	if ok && now >= until {
		delete(s.m, *h)
		ok = false
	}
	s.mu.Unlock()
	return ok
}

// put remembers h as unknown, unless the cache was cleared since gen was
// read (the store may have learnt the key since).
func (c *negativeCache) put(h *store.Hash, now int64, gen uint64) {
	s := c.shard(h)
	s.mu.Lock()
	if c.gen.Load() == gen {
		if _, ok := s.m[*h]; !ok && len(s.m) >= negativePerShard {
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
		s.m[*h] = now + int64(negativeTTL)
	}
	s.mu.Unlock()
}

// clear forgets every hash. The generation is raised first, under each
// shard's lock in put's order, so no read begun before clear can put.
func (c *negativeCache) clear() {
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// sweep drops expired hashes.
func (c *negativeCache) sweep(now int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for h, until := range s.m {
			if now >= until {
				delete(s.m, h)
			}
		}
		s.mu.Unlock()
	}
}

// LookupStats counts what the forged-token defence did since New.
type LookupStats struct {
	// Refused is how many Authenticate calls returned ErrBusy.
	Refused int64
}

// LookupStats returns the Manager's lookup counters.
func (m *Manager) LookupStats() LookupStats {
	return LookupStats{Refused: m.lookupsRefused.Load()}
}
