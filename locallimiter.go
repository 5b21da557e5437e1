package keys

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/google/uuid"
)

// LocalLimiter is the built-in per-process GCRA limiter as a Limiter of
// its own, for a Limiter that needs one to fall back on (redislimiter uses
// it while Redis is unreachable). Its decisions are those of a Manager
// without Config.Limiter: N requests at once from idle, N per minute held
// steady, a key bucket and its account's pool bucket. It takes time from
// RateRequest.Now. A Manager does not need it: with Config.Limiter nil it
// runs the same algorithm under the lock of its quota counts.
//
// Buckets full again are forgotten within a minute of the next request
// that reaches their shard, so memory follows the keys active in the last
// minute. It is safe for concurrent use.
type LocalLimiter struct {
	seed   maphash.Seed
	shards [localShards]localShard
}

const localShards = 64

type localShard struct {
	mu        sync.Mutex
	pools     map[string]int64 // account ID -> the pool's TAT, UnixNano
	keys      map[localKey]int64
	nextSweep int64
	_         [64]byte // neighbouring shards' locks on separate cache lines
}

// localKey names a key's bucket. The account is part of it because the
// nil key ID stands for the per-account stand-in of AllowAccountRate.
type localKey struct {
	account string
	id      uuid.UUID
}

// NewLocalLimiter returns an empty LocalLimiter.
func NewLocalLimiter() *LocalLimiter {
	l := &LocalLimiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].pools = make(map[string]int64)
		l.shards[i].keys = make(map[localKey]int64)
	}
	return l
}

// Take implements Limiter. It never returns an error.
func (l *LocalLimiter) Take(_ context.Context, r RateRequest) (RateResult, error) {
	n := int64(max(r.N, 1))
	now := r.Now.UnixNano()
	// Both buckets of a request live in the account's shard, so one lock
	// makes the pair all-or-nothing.
	s := &l.shards[maphash.String(l.seed, r.AccountID)&(localShards-1)]
	kk := localKey{r.AccountID, r.KeyID}
	var kr, pr rateCheck
	s.mu.Lock()
	if now >= s.nextSweep {
		s.sweep(now)
	}
	gcra(&kr, s.keys[kk], now, paramsOf(r.KeyRate), n)
	gcra(&pr, s.pools[r.AccountID], now, paramsOf(r.PoolRate), n)
	if kr.allowed && pr.allowed {
		s.keys[kk], s.pools[r.AccountID] = kr.tat, pr.tat
	}
	s.mu.Unlock()
	b := bindingRate(&kr, &pr)
	return RateResult{
		Allowed:    b.allowed,
		Limit:      int(b.params.rate),
		Remaining:  int(b.remaining()),
		Reset:      time.Unix(0, now+b.resetIn).UTC(),
		RetryAfter: time.Duration(b.retryAfter),
	}, nil
}

// sweep forgets the buckets that are full again at now (a bucket whose TAT
// has passed decides exactly like a new one). s.mu must be held.
func (s *localShard) sweep(now int64) {
	for k, tat := range s.keys {
		if tat <= now {
			delete(s.keys, k)
		}
	}
	for k, tat := range s.pools {
		if tat <= now {
			delete(s.pools, k)
		}
	}
	s.nextSweep = now + ratePeriod
}

// len returns how many buckets are held.
func (l *LocalLimiter) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.keys) + len(s.pools)
		s.mu.Unlock()
	}
	return n
}
