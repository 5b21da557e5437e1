package redislimiter

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
)

// takeScript decides n requests against a key's bucket (KEYS[1]) and its
// account's pool bucket (KEYS[2]) atomically. Each bucket is one string
// holding its GCRA theoretical arrival time (TAT) in microseconds since the
// epoch, and expires when the TAT passes (a bucket past its TAT decides
// exactly like a missing one). ARGV: now in microseconds, or "" to read
// Redis's clock; n; the key's and the pool's refill interval in
// microseconds per request.
//
// The script does the least that must be atomic: read both TATs, and store
// both new ones if both buckets admit. It returns {now, key TAT, pool TAT}
// as read, and the Go side derives the answer (remaining, reset, retry)
// from them with the same arithmetic, so the script stays four commands
// (TIME, MGET and two SETs) and its reply three integers.
//
// Microseconds keep every value an integer below 2^53, exact in Lua's
// doubles; "%.0f" formats them, since Lua's default number format keeps
// only 14 digits. replicate_commands lets a script that read TIME write
// on Redis before 5 (from 5 on it is the default, and a no-op).
var takeScript = redis.NewScript(`
local now
if ARGV[1] == "" then
  redis.replicate_commands()
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local n = tonumber(ARGV[2])
local v = redis.call("MGET", KEYS[1], KEYS[2])
local kt = tonumber(v[1]) or 0
local pt = tonumber(v[2]) or 0
local kn = math.max(kt, now) + tonumber(ARGV[3]) * n
local pn = math.max(pt, now) + tonumber(ARGV[4]) * n
if kn - now <= 60000000 and pn - now <= 60000000 then
  redis.call("SET", KEYS[1], string.format("%.0f", kn), "PX", math.ceil((kn - now) / 1000))
  redis.call("SET", KEYS[2], string.format("%.0f", pn), "PX", math.ceil((pn - now) / 1000))
end
return {now, kt, pt}
`)

// period is the rate window, a minute, in microseconds.
const period = int64(time.Minute / time.Microsecond)

// MaxRate is the highest rate per minute the limiter tells apart: it
// counts in microseconds, so a faster rate is held to one request per
// microsecond.
const MaxRate = int(period)

// bucket is one bucket's rate and its refill interval in microseconds.
type bucket struct{ rate, interval int64 }

func bucketOf(rate int) bucket {
	r := int64(min(max(rate, 1), MaxRate))
	return bucket{rate: r, interval: period / r}
}

// verdict is one bucket's answer, as the built-in limiter gives it.
type verdict struct {
	allowed    bool
	slack      int64 // µs of burst left
	remaining  int64
	reset      int64 // µs since the epoch
	retryAfter int64 // µs
}

// gcra is the script's decision for one bucket with stored TAT tat,
// completed with what the script leaves to Go.
func gcra(tat, now int64, b bucket, n int64) verdict {
	tat = max(tat, now)
	next := tat + b.interval*n
	if next-now <= period {
		slack := period - (next - now)
		return verdict{allowed: true, slack: slack, remaining: slack / b.interval, reset: next}
	}
	slack := period - (tat - now)
	return verdict{slack: slack, remaining: slack / b.interval, reset: tat, retryAfter: next - period - now}
}

// decide turns the script's reply into the Limiter's answer about the
// binding bucket: a refusal (the longer wait if both refuse), else the one
// with fewer requests left, as keys.Limiter asks.
func decide(now, keyTAT, poolTAT int64, key, pool bucket, n int64) keys.RateResult {
	kv, pv := gcra(keyTAT, now, key, n), gcra(poolTAT, now, pool, n)
	both := kv.allowed && pv.allowed
	if !both {
		// Neither bucket was written: report each as it stands.
		kv.allowed, pv.allowed = false, false
	}
	b, rate := kv, key.rate
	switch {
	case !kv.allowed && !both:
		if pv.retryAfter > kv.retryAfter {
			b, rate = pv, pool.rate
		}
	case key.interval == pool.interval && pv.slack < kv.slack,
		key.interval != pool.interval && pv.remaining < kv.remaining:
		// With equal rates the finer measure breaks ties, as in the
		// built-in limiter.
		b, rate = pv, pool.rate
	}
	res := keys.RateResult{
		Allowed:   both,
		Limit:     int(rate),
		Remaining: int(b.remaining),
		Reset:     time.UnixMicro(b.reset).UTC(),
	}
	if !both {
		res.RetryAfter = time.Duration(b.retryAfter) * time.Microsecond
	}
	return res
}
