package httpadapter

import (
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keys"
)

// Session gate (DESIGN 5.6): a session names its account without a store
// read, but serving it reads the store (the account, its root key) before
// the account's rate is counted. The gate counts every session request per
// account first, in memory, so a flood of requests with a valid session
// costs the store a bounded number of reads.
//
// Its bucket is twice the account's pool rate once a request has read it
// (so the pool's own 429, with its X-RateLimit-* headers, comes first in
// normal use, and the gate bites only on a flood past it), and
// sessionGateUnknown a minute, with as large a burst, before that.
const (
	sessionGateUnknown = 30
	sessionGateMax     = 1 << 16 // accounts tracked; idle ones are dropped first
)

type sessionGate struct {
	mu sync.Mutex
	m  map[string]*gateBucket
}

type gateBucket struct {
	tat int64 // GCRA theoretical arrival time, wall UnixNano
	rpm int64 // the bucket's rate and burst per minute
}

// allow counts one request of acct at now and returns how long to wait
// when it is refused.
func (g *sessionGate) allow(acct string, now time.Time) (bool, time.Duration) {
	t := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]*gateBucket)
	}
	b := g.m[acct]
	if b == nil {
		g.evict(t)
		b = &gateBucket{tat: t, rpm: sessionGateUnknown}
		g.m[acct] = b
	}
	interval := int64(time.Minute) / b.rpm
	tat := max(b.tat, t)
	if over := tat - t - (b.rpm-1)*interval; over > 0 {
		return false, time.Duration(over)
	}
	b.tat = tat + interval
	return true, 0
}

// learn sets acct's bucket to twice its pool rate, read from the store.
func (g *sessionGate) learn(acct string, pool keys.Limits) {
	rpm := 2 * int64(pool.RequestsPerMinute)
	if rpm <= 0 {
		return
	}
	g.mu.Lock()
	if b := g.m[acct]; b != nil {
		b.rpm = max(rpm, sessionGateUnknown)
	}
	g.mu.Unlock()
}

// evict makes room for one more account: first every bucket that is full
// again (forgetting it changes nothing but its learnt rate), else any.
func (g *sessionGate) evict(now int64) {
	if len(g.m) < sessionGateMax {
		return
	}
	for a, b := range g.m {
		if b.tat <= now {
			delete(g.m, a)
		}
	}
	for a := range g.m {
		if len(g.m) < sessionGateMax {
			return
		}
		delete(g.m, a)
	}
}

// gateSession refuses a session request of acct past its gate, before any
// store read: 429 rate_limited with Retry-After.
func (h *Handler) gateSession(acct string) *Error {
	ok, wait := h.gate.allow(acct, h.m.Now())
	if ok {
		return nil
	}
	e := newError(http.StatusTooManyRequests, CodeRateLimited,
		"Too many requests; retry after the number of seconds in the Retry-After header.", keys.ErrRateLimited)
	e.RetryAfter = wait
	return e
}
