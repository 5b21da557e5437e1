// Package redislimiter is a keys.Limiter that keeps the per-minute rate
// buckets in Redis, so that every keys.Manager sharing one Redis shares
// the rates exactly: a key or an account of N requests per minute gets N
// across all of them, not N per process.
//
//	lim := redislimiter.New(redisClient, redislimiter.Options{Logger: log})
//	m, err := keys.New(st, keys.Config{Limiter: lim})
//
// The algorithm is the one the keys package runs in memory (GCRA: N at
// once from idle, N per minute held steady), for the key's bucket and its
// account's pool bucket in one Lua script, so a decision is atomic and
// costs one round trip (EVALSHA; the script is loaded again when Redis has
// lost it). Time comes from Redis (TIME, inside the script), not from the
// Manager's clock or keys.RateRequest.Now, so the hosts' clocks need not
// agree; Options.Clock replaces it in tests. Each bucket is a Redis string
// that expires when the bucket is full again, so idle keys cost nothing.
//
// Redis down or slow (no answer within Options.Timeout) never fails a
// request: the Limiter logs the change once and decides in-process
// (Options.Fallback, by default a keys.LocalLimiter) until Redis answers
// one of the retries it makes every Options.RetryInterval, which it also
// logs once. While it falls back, each process enforces the rates on its
// own, so P processes admit up to P times a rate.
package redislimiter
