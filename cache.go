package keys

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keys/store"
)

// entry is a key resolved from the store: its metadata, whether it may
// authenticate, and its last use in this process. Everything but lastUsed
// and dirty is immutable once the entry is published.
type entry struct {
	hash store.Hash
	key  Key
	// err is nil for a usable key, ErrRevokedKey for a revoked key or a
	// child whose root is no longer the account's active root. Expiry is
	// checked against the clock on every use instead.
	err error
	// expiresAt is when the key stops working: the earlier of its expiry
	// and its RevokedAt (a retiring key), wall UnixNano; math.MaxInt64
	// when neither is set. revokesAt is its RevokedAt alone, to tell which.
	expiresAt int64
	revokesAt int64

	slot     uint32 // invalidation slot of the key's account
	seq      uint64 // cache sequence read before the store was
	loadedAt int64  // monotonic ns (see instant)

	lastUsed atomic.Int64 // Unix seconds of the last authentication here
	dirty    atomic.Bool  // lastUsed is queued for the next flush

	// state caches the key's limit state so Allow skips the map lookups;
	// keyRate and poolRate are its rate limits, precomputed.
	state             atomic.Pointer[keyState]
	keyRate, poolRate rateParams
}

const (
	cacheShards = 64 // a power of two; keeps the two cores off one lock
	// invalidationSlots is how many account generations the cache keeps.
	// Accounts share a slot by hash; sharing only costs a spurious reload.
	invalidationSlots = 4096
)

// keyCache maps key hashes to resolved entries.
//
// Invalidation is per account and O(1): a change to account A bumps the
// generation of A's slot to a fresh global sequence number, and an entry is
// valid only while its slot's generation is not newer than the sequence
// number read before its store read began. An entry loaded from data older
// than a change therefore can never pass, whatever the interleaving, and
// Reissue kills every cached child of the account with one store to one
// slot instead of one deletion per child.
type keyCache struct {
	disabled bool
	ttl      int64 // ns
	perShard int

	seq   atomic.Uint64
	slots [invalidationSlots]atomic.Uint64
	seed  maphash.Seed

	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[store.Hash]*entry
	_  [96]byte // keep neighbouring shards' locks on separate cache lines, however the array is aligned
}

func newKeyCache(ttl time.Duration, size int) *keyCache {
	c := &keyCache{
		disabled: ttl < 0,
		ttl:      int64(ttl),
		perShard: max(1, size/cacheShards),
		seed:     maphash.MakeSeed(),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[store.Hash]*entry)
	}
	return c
}

func (c *keyCache) shard(h *store.Hash) *cacheShard { return &c.shards[h[0]&(cacheShards-1)] }

func (c *keyCache) slotOf(account string) uint32 {
	return uint32(maphash.String(c.seed, account) & (invalidationSlots - 1))
}

// begin returns the sequence number to give an entry whose store read
// starts now.
func (c *keyCache) begin() uint64 { return c.seq.Load() }

// get returns the valid entry for h at now (monotonic), or nil.
func (c *keyCache) get(h *store.Hash, now int64) *entry {
	if c.disabled {
		return nil
	}
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[*h]
	s.mu.RUnlock()
	if e == nil || !c.fresh(e, now) {
		return nil
	}
	return e
}

// known reports whether h has an entry, fresh or not: a key that existed
// when this process last read it.
func (c *keyCache) known(h *store.Hash) bool {
	s := c.shard(h)
	s.mu.RLock()
	_, ok := s.m[*h]
	s.mu.RUnlock()
	return ok
}

// fresh reports whether e reflects every change made through this Manager
// and is younger than the TTL.
func (c *keyCache) fresh(e *entry, now int64) bool {
	return c.current(e) && now-e.loadedAt < c.ttl
}

// current reports whether no change to e's account has been made through
// this Manager since e was read.
func (c *keyCache) current(e *entry) bool {
	return c.slots[e.slot].Load() <= e.seq
}

func (c *keyCache) put(e *entry) {
	if c.disabled {
		return
	}
	s := c.shard(&e.hash)
	s.mu.Lock()
	if _, ok := s.m[e.hash]; !ok && len(s.m) >= c.perShard {
		// Evict an arbitrary entry: map iteration order is random enough to
		// spread evictions, and the victim is just read again when needed.
		for h := range s.m {
			delete(s.m, h)
			break
		}
	}
	s.m[e.hash] = e
	s.mu.Unlock()
}

// invalidateAccount makes every entry of the account, cached or being
// loaded, stale. Call it after the change is in the store.
func (c *keyCache) invalidateAccount(account string) {
	gen := c.seq.Add(1)
	raise(&c.slots[c.slotOf(account)], gen)
}

// invalidateAll makes every entry stale, for when changes may have been
// missed (a store's notification connection was lost).
func (c *keyCache) invalidateAll() {
	gen := c.seq.Add(1)
	for i := range c.slots {
		raise(&c.slots[i], gen)
	}
}

// raise sets slot to gen unless it holds a later generation already.
func raise(slot *atomic.Uint64, gen uint64) {
	for {
		old := slot.Load()
		if old >= gen || slot.CompareAndSwap(old, gen) {
			return
		}
	}
}

// sweep drops entries that can no longer be used (past their TTL at now,
// monotonic, or stale after a change), so that a burst of distinct keys
// does not hold memory until the cache fills. An entry still queued for a
// last-used flush stays reachable from the queue.
func (c *keyCache) sweep(now int64) {
	if c.disabled {
		return
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for h, e := range s.m {
			if !c.fresh(e, now) {
				delete(s.m, h)
			}
		}
		s.mu.Unlock()
	}
}

// len returns the number of cached entries.
func (c *keyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// maxNano is the latest time a UnixNano int64 can hold (year 2262).
var maxNano = time.Unix(0, math.MaxInt64)

// unixNano returns t as UnixNano, math.MaxInt64 for nil or for a time past
// what UnixNano can represent (where it would overflow into the past).
func unixNano(t *time.Time) int64 {
	if t == nil || !t.Before(maxNano) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// stopped returns the error of a key used at or after e.expiresAt:
// ErrRevokedKey once its grace has ended, else ErrExpiredKey.
func (e *entry) stopped(now int64) error {
	if now >= e.revokesAt {
		return ErrRevokedKey
	}
	return ErrExpiredKey
}
