package keys

// LocalLimiterLen returns how many buckets l holds.
func LocalLimiterLen(l *LocalLimiter) int { return l.len() }
