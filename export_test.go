package keys

// Hooks for the external tests.

// CacheLen returns the number of cached keys.
func CacheLen(m *Manager) int { return m.cache.len() }

// QuotaLen returns the number of key usage counts held in memory.
func QuotaLen(m *Manager) int { return m.book.len() }

// Sweep runs the idle sweep that the flusher runs every FlushInterval.
func Sweep(m *Manager) { m.sweep() }
