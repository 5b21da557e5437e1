package keys

import (
	"sync"
	"sync/atomic"
	"time"
)

// instant is one reading of the Manager's clock, in two scales. Wall time
// (UnixNano) is for what is stored and shown: expiry, calendar months,
// last-used times, the Reset of a Decision. Monotonic time (nanoseconds on
// a scale that never goes back) is for durations measured in memory: cache
// TTLs, rate buckets, idle sweeps. A step of the wall clock (an NTP
// correction, an operator's date command) then moves what it must and
// nothing else: it cannot keep a cached key alive past its TTL, nor push a
// rate bucket's refill minutes into the future.
type instant struct {
	wall int64
	mono int64
}

// monoClock is the default clock: one monotonic clock read per call, with
// the wall time derived from an offset that the Manager refreshes every
// FlushInterval (a wall step shows in wall readings within that interval).
// One read costs about 25 ns here where time.Now costs about 47, and the hot
// path reads the clock on every Authenticate and Allow.
type monoClock struct {
	base time.Time // time.Now at New: carries the monotonic reading
	// offset is wall minus monotonic time at the last re-anchor.
	offset atomic.Int64
	// skew is added to every wall reading: a test hook that steps the wall
	// clock the way the operating system would.
	skew atomic.Int64
}

func newMonoClock() *monoClock {
	c := &monoClock{base: time.Now()}
	c.reanchor()
	return c
}

// reanchor takes a fresh wall reading, so wall steps reach wall time.
func (c *monoClock) reanchor() {
	t := time.Now()
	c.offset.Store(t.UnixNano() + c.skew.Load() - int64(t.Sub(c.base)))
}

func (c *monoClock) now() instant {
	mono := int64(time.Since(c.base))
	return instant{wall: mono + c.offset.Load(), mono: mono}
}

// Now returns the current wall time.
func (c *monoClock) Now() time.Time { return time.Unix(0, c.now().wall) }

// steppedClock derives monotonic time from a Config.Clock: it advances by
// the clock's forward movement and ignores its backward steps. Tests move a
// fake clock forward to let time pass, and a backward step then behaves as
// a real one does under the default clock. Differences are taken with
// time.Time.Sub, which uses the monotonic readings when both times carry
// one (as time.Now's do), so a Clock built on time.Now is immune to wall
// steps altogether.
type steppedClock struct {
	read func() time.Time
	mu   sync.Mutex
	last time.Time
	mono int64
}

func newSteppedClock(read func() time.Time) *steppedClock {
	return &steppedClock{read: read, last: read()}
}

func (c *steppedClock) now() instant {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Read under the lock, so readings apply in the order they were taken.
	t := c.read()
	if d := t.Sub(c.last); d > 0 {
		c.mono += int64(d)
	}
	c.last = t
	return instant{wall: t.UnixNano(), mono: c.mono}
}
