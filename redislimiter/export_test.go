package redislimiter

// RetryNow lets the next request try Redis again, as if the retry
// interval had passed.
func RetryNow(l *Limiter) { l.nextProbe.Store(0) }

// Down reports whether l is falling back.
func Down(l *Limiter) bool { return l.down.Load() }
