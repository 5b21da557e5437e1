package keys

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// book holds, per account, everything Allow decides from: the month's
// request counts of the account and of each of its keys, and the GCRA
// buckets of the built-in rate limiter. One mutex per account guards all of
// it, so a decision takes one lock and is all-or-nothing: a request refused
// by the rate is not counted against the quota, and the other way round.
// A warm key reaches its state through a pointer cached in its cache entry,
// without a map lookup.
//
// Counts are base + pending: base is the store's total as last seen,
// pending what this process admitted since its last flush. A flush moves
// pending into the store with AddUsage and takes the totals it returns as
// the new base, which folds in what other processes sharing the store have
// counted. State idle for a flush interval is dropped and read again on next
// use. So with several processes on one store, an account can overshoot its
// quota by at most what the others admit in two FlushIntervals: their
// counts reach the store at their flush, and this one reads them at its own
// (measured by integration's cluster test).
type book struct {
	seed   maphash.Seed
	shards [bookShards]bookShard
	month  atomic.Pointer[monthSpan] // the month of the latest decision

	retryMu sync.Mutex
	// retry holds counts not yet flushed (a failed flush, a past month),
	// merged per key and month so that a long store outage grows it by
	// the number of keys used, not by one entry per key per flush.
	retry map[usageKey]int64

	flushes usageFlusher // see flushusage.go
}

// usageKey names one count of a UsageDelta.
type usageKey struct {
	account string
	key     uuid.UUID
	month   store.Month
}

const bookShards = 64

type bookShard struct {
	mu       sync.Mutex
	accounts map[string]*accountState
	_        [112]byte // keep neighbouring shards' locks on separate cache lines, however the array is aligned
}

type accountState struct {
	mu      sync.Mutex
	id      string
	dropped bool // removed from the book: holders must look it up again
	month   store.Month
	loaded  bool // base holds the store's count for month
	base    int64
	pending int64
	tat     int64 // the pool's GCRA bucket, monotonic ns
	lastUse int64 // monotonic ns
	keys    map[uuid.UUID]*keyState
}

type keyState struct {
	acct    *accountState
	dropped bool
	loaded  bool
	base    int64
	pending int64
	tat     int64
	lastUse int64
}

// usageReader reads a key's and its account's stored counts for a month:
// the Manager, which bounds the store call by its StoreTimeout.
type usageReader interface {
	readUsage(ctx context.Context, accountID string, keyID uuid.UUID, month store.Month) (store.UsageTotal, error)
}

// monthSpan caches the bounds of a month so the hot path does not compute
// a calendar date per request.
type monthSpan struct {
	month      store.Month
	start, end int64 // UnixNano, end exclusive
}

func newBook() *book {
	b := &book{seed: maphash.MakeSeed(), flushes: usageFlusher{turn: make(chan struct{}, 1)}}
	for i := range b.shards {
		b.shards[i].accounts = make(map[string]*accountState)
	}
	return b
}

// monthOf returns the UTC calendar month containing now (wall UnixNano).
func (b *book) monthOf(now int64) *monthSpan {
	if s := b.month.Load(); s != nil && now >= s.start && now < s.end {
		return s
	}
	m := store.MonthOf(time.Unix(0, now))
	s := &monthSpan{month: m, start: m.Start().UnixNano(), end: m.Next().Start().UnixNano()}
	b.month.Store(s)
	return s
}

func (b *book) shard(account string) *bookShard {
	return &b.shards[maphash.String(b.seed, account)&(bookShards-1)]
}

// lock returns k's state for span's month with its account's mutex held,
// reading the stored counts on the key's first use in the month. The fast
// path, for a key from Authenticate whose state is warm, is one atomic load
// and one lock.
func (b *book) lock(ctx context.Context, st usageReader, k *Key, span *monthSpan) (*keyState, error) {
	if k.ent != nil {
		if ks := k.ent.state.Load(); ks != nil {
			a := ks.acct
			a.mu.Lock()
			if !a.dropped && !ks.dropped && a.loaded && ks.loaded && a.month == span.month {
				return ks, nil
			}
			a.mu.Unlock()
		}
	}
	for {
		a := b.account(k.AccountID)
		a.mu.Lock()
		if a.dropped {
			a.mu.Unlock()
			continue
		}
		if a.month.Start().Before(span.month.Start()) {
			b.roll(a, span.month)
		}
		ks := a.keys[k.ID]
		if ks == nil {
			ks = &keyState{acct: a}
			a.keys[k.ID] = ks
		}
		if a.loaded && ks.loaded {
			if k.ent != nil {
				k.ent.state.Store(ks)
			}
			return ks, nil
		}
		month := a.month
		a.mu.Unlock()
		total, err := st.readUsage(ctx, k.AccountID, k.ID, month)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		if !a.dropped && !ks.dropped && a.month == month {
			a.base = max(a.base, total.Account)
			ks.base = max(ks.base, total.Key)
			a.loaded, ks.loaded = true, true
		}
		a.mu.Unlock()
	}
}

// account returns the state of the account, creating it.
func (b *book) account(id string) *accountState {
	s := b.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil {
		a = &accountState{id: id, keys: make(map[uuid.UUID]*keyState)}
		s.accounts[id] = a
	}
	return a
}

// roll moves a to month, queueing the past month's unflushed counts. The
// rate buckets carry over: they are about the last minute, not the month.
// a.mu must be held.
func (b *book) roll(a *accountState, month store.Month) {
	for id, ks := range a.keys {
		if ks.pending != 0 {
			b.queueRetry(store.UsageDelta{AccountID: a.id, KeyID: id, Month: a.month, N: ks.pending})
		}
		ks.base, ks.pending, ks.loaded = 0, 0, false
	}
	a.month, a.base, a.pending, a.loaded = month, 0, 0, false
}

// quotaCheck is a quota verdict: the binding window (limit, remaining)
// and the key's and the pool's own, with what each has left before the
// request (possibly below 0: Decision's accessors clamp).
type quotaCheck struct {
	allowed             bool
	limit, remaining    int64
	keyLimit, keyLeft   int64
	poolLimit, poolLeft int64
}

// checkQuota reports whether n more requests of k fit in its key's and its
// account's monthly quota. a.mu must be held.
func (ks *keyState) checkQuota(k *Key, n int64) quotaCheck {
	a := ks.acct
	keyLeft := k.Effective.RequestsPerMonth - ks.base - ks.pending
	poolLeft := k.Pool.RequestsPerMonth - a.base - a.pending
	left := max(0, min(keyLeft, poolLeft))
	return quotaCheck{
		allowed:   n <= left,
		limit:     min(k.Effective.RequestsPerMonth, k.Pool.RequestsPerMonth),
		remaining: left,
		keyLimit:  k.Effective.RequestsPerMonth, keyLeft: keyLeft,
		poolLimit: k.Pool.RequestsPerMonth, poolLeft: poolLeft,
	}
}

// count adds n admitted requests. a.mu must be held.
func (ks *keyState) count(n int64) {
	ks.pending += n
	ks.acct.pending += n
}

// checkRate runs the built-in limiter for n requests at now, storing the
// new bucket states only if both buckets admit them, and writes the
// binding verdict to out. a.mu must be held.
func (ks *keyState) checkRate(out *rateCheck, key, pool rateParams, n, now int64) {
	a := ks.acct
	var kr, pr rateCheck
	gcra(&kr, ks.tat, now, key, n)
	gcra(&pr, a.tat, now, pool, n)
	if kr.allowed && pr.allowed {
		ks.tat, a.tat = kr.tat, pr.tat
	}
	*out = *bindingRate(&kr, &pr)
}

// refund takes back n requests counted for k, when a Limiter refused what
// the quota admitted.
func (b *book) refund(ks *keyState, id uuid.UUID, month store.Month, n int64) {
	a := ks.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dropped || ks.dropped || a.month != month {
		b.queueRetry(store.UsageDelta{AccountID: a.id, KeyID: id, Month: month, N: -n})
		return
	}
	ks.pending -= n
	a.pending -= n
}

func (b *book) queueRetry(ds ...store.UsageDelta) {
	b.retryMu.Lock()
	defer b.retryMu.Unlock()
	if b.retry == nil {
		b.retry = make(map[usageKey]int64)
	}
	for _, d := range ds {
		b.retry[usageKey{d.AccountID, d.KeyID, d.Month}] += d.N
	}
}

// collect moves every pending count into base and returns them as deltas
// for AddUsage, with those left over from failed flushes and past months.
func (b *book) collect() []store.UsageDelta {
	b.retryMu.Lock()
	out := make([]store.UsageDelta, 0, len(b.retry))
	for k, n := range b.retry {
		if n != 0 {
			out = append(out, store.UsageDelta{AccountID: k.account, KeyID: k.key, Month: k.month, N: n})
		}
	}
	b.retry = nil
	b.retryMu.Unlock()
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, a := range s.accounts {
			a.mu.Lock()
			for id, ks := range a.keys {
				if ks.pending == 0 {
					continue
				}
				out = append(out, store.UsageDelta{AccountID: a.id, KeyID: id, Month: a.month, N: ks.pending})
				ks.base += ks.pending
				a.base += ks.pending
				a.pending -= ks.pending
				ks.pending = 0
			}
			a.mu.Unlock()
		}
		s.mu.Unlock()
	}
	return out
}

// refresh takes the stored totals AddUsage returned as the new bases, which
// brings in what other processes have counted.
func (b *book) refresh(ds []store.UsageDelta, totals []store.UsageTotal) {
	for i, d := range ds {
		if i >= len(totals) {
			return
		}
		s := b.shard(d.AccountID)
		s.mu.Lock()
		a := s.accounts[d.AccountID]
		s.mu.Unlock()
		if a == nil {
			continue
		}
		a.mu.Lock()
		if a.loaded && a.month == d.Month {
			a.base = max(a.base, totals[i].Account)
			if ks := a.keys[d.KeyID]; ks != nil && ks.loaded {
				ks.base = max(ks.base, totals[i].Key)
			}
		}
		a.mu.Unlock()
	}
}

// sweep drops state with nothing pending, idle since before cutoff, whose
// rate buckets are full again at now (both monotonic): it is read back from
// the store (or starts afresh) on next use.
func (b *book) sweep(cutoff, now int64) {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for id, a := range s.accounts {
			a.mu.Lock()
			for kid, ks := range a.keys {
				if ks.pending == 0 && ks.lastUse < cutoff && ks.tat <= now {
					ks.dropped = true
					delete(a.keys, kid)
				}
			}
			if len(a.keys) == 0 && a.pending == 0 && a.lastUse < cutoff && a.tat <= now {
				a.dropped = true
				delete(s.accounts, id)
			}
			a.mu.Unlock()
		}
		s.mu.Unlock()
	}
}

// len returns how many key states are held.
func (b *book) len() int {
	n := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, a := range s.accounts {
			a.mu.Lock()
			n += len(a.keys)
			a.mu.Unlock()
		}
		s.mu.Unlock()
	}
	return n
}
