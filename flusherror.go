package keys

import (
	"fmt"

	"github.com/google/uuid"
)

// FlushError is the error of a flush that could not write everything: what
// is still unwritten, counted, and the store's error. After a failed
// Shutdown or Close these counts are what a process exit loses; after a
// failed periodic flush or Flush they stay pending for the next one.
type FlushError struct {
	// UsageCounts is how many usage counts (one per key and month) are
	// unwritten, and Requests how many requests they hold in all.
	UsageCounts int
	Requests    int64
	// LastUsed is how many keys' last-used times are unwritten.
	LastUsed int
	// Err is what the store returned.
	Err error
}

// Error says how many usage counts and last-used times were not written,
// and why.
func (e *FlushError) Error() string {
	return fmt.Sprintf("keys: flush failed; %d usage counts (%d requests) and %d last-used times not written: %v",
		e.UsageCounts, e.Requests, e.LastUsed, e.Err)
}

// Unwrap returns the store's error, so errors.Is sees context deadlines
// and the store's sentinels through a FlushError.
func (e *FlushError) Unwrap() error { return e.Err }

// unwritten counts what waits for a flush: usage counts queued for retry
// and not yet collected, and queued last-used times.
func (m *Manager) unwritten() *FlushError {
	fe := &FlushError{}
	b := m.book
	// One count per key and month, however it is split between the retry
	// queue and the book.
	counts := make(map[usageKey]int64)
	b.retryMu.Lock()
	for k, n := range b.retry {
		counts[k] += n
	}
	b.retryMu.Unlock()
	for _, d := range b.flushes.unsureDeltas() {
		counts[usageKey{d.AccountID, d.KeyID, d.Month}] += d.N
	}
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, a := range s.accounts {
			a.mu.Lock()
			for id, ks := range a.keys {
				if ks.pending != 0 {
					counts[usageKey{a.id, id, a.month}] += ks.pending
				}
			}
			a.mu.Unlock()
		}
		s.mu.Unlock()
	}
	for _, n := range counts {
		if n != 0 {
			fe.UsageCounts++
			fe.Requests += n
		}
	}
	m.lastUsed.mu.Lock()
	ids := make(map[uuid.UUID]struct{}, len(m.lastUsed.entries))
	for _, e := range m.lastUsed.entries {
		ids[e.key.ID] = struct{}{}
	}
	m.lastUsed.mu.Unlock()
	fe.LastUsed = len(ids)
	return fe
}
