package keys

import "time"

// Hooks for the external tests.

// CacheLen returns the number of cached keys.
func CacheLen(m *Manager) int { return m.cache.len() }

// QuotaLen returns the number of key usage counts held in memory.
func QuotaLen(m *Manager) int { return m.book.len() }

// Sweep runs the idle sweep that the flusher runs every FlushInterval.
func Sweep(m *Manager) { m.sweep() }

// Tick runs one round of the tick loop (re-anchor, the event hook's rate
// summaries and expiry scan, sweep), as it runs every FlushInterval, so
// tests on a fake clock decide when it runs.
func Tick(m *Manager) { m.tick() }

// RetryLen returns how many usage counts wait for a flush to succeed: in
// a batch of unknown outcome, and merged for the next batch.
func RetryLen(m *Manager) int {
	n := m.book.flushes.unsureLen()
	m.book.retryMu.Lock()
	defer m.book.retryMu.Unlock()
	return n + len(m.book.retry)
}

// StepWall steps the default clock's wall reading by d, as an operating
// system clock step would, and makes the Manager see it at once (it
// otherwise would at its next re-anchor). Monotonic time does not move.
func StepWall(m *Manager, d time.Duration) {
	m.mono.skew.Add(int64(d))
	m.mono.reanchor()
}

// SkewWall steps the default clock's wall reading by d as StepWall does,
// but leaves the Manager to notice at its next re-anchor.
func SkewWall(m *Manager, d time.Duration) { m.mono.skew.Add(int64(d)) }

// WallNow returns the Manager's wall time.
func WallNow(m *Manager) time.Time { return m.clock() }

// ForgeToken returns a well-formed token of m's environment that no key
// has: random, with a valid checksum and no tag.
func ForgeToken(m *Manager) string {
	tok, err := tokenFormat{prefix: m.format.prefix}.newToken()
	if err != nil {
		panic(err)
	}
	return tok
}

// WithoutTags makes m issue untagged tokens, as a Manager from before
// tags did. Call it before m is shared.
func WithoutTags(m *Manager) { m.format.tagger = nil }

// ScanStoreExpiring runs one scan of the store for expiring keys, as the
// Manager does every few minutes, and returns when every notice it found
// has been handed to the hook's goroutine (so an event sent after it
// reaches the hook after them). m must have Config.OnEvent.
func ScanStoreExpiring(m *Manager) error { return m.scanExpiring() }
