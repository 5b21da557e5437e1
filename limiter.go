package keys

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Limiter enforces per-minute rates in place of the Manager's built-in
// in-memory limiter, for example to share rates across processes through
// Redis. Set it with Config.Limiter; callers of Allow do not change.
//
// A Limiter holds two buckets per request: the key's own and its account's
// pool, which every key of the account shares. A request is admitted only
// if both have room, and then counts in both. Rates are requests per minute
// with a burst of the same size: N at once from idle and, held steady, N
// per minute (GCRA, as the built-in limiter does).
type Limiter interface {
	// Take admits r.N requests at r.Now if both buckets allow it, and
	// reports the bucket that binds. An error means the limiter itself
	// failed (a lost connection), not that the request was refused.
	Take(ctx context.Context, r RateRequest) (RateResult, error)
}

// RateRequest asks a Limiter to admit N requests of one key.
type RateRequest struct {
	AccountID string
	KeyID     uuid.UUID
	// KeyRate and PoolRate are requests per minute for the key's bucket and
	// the account's; both are at least 1.
	KeyRate, PoolRate int
	N                 int
	Now               time.Time
}

// RateResult is a Limiter's answer, about the bucket that binds: the one
// that refused, or when both admit, the one with fewer requests left.
type RateResult struct {
	Allowed bool
	// Limit is the binding bucket's rate per minute.
	Limit int
	// Remaining is how many more requests it admits right now.
	Remaining int
	// Reset is when it will be full again.
	Reset time.Time
	// RetryAfter is how long to wait before the refused request would be
	// admitted; zero when Allowed.
	RetryAfter time.Duration
}

// The built-in limiter is a GCRA (generic cell rate algorithm) per bucket.
//
// GCRA is a token bucket stored as one number, the theoretical arrival time
// (TAT): a bucket of rate N admits n requests at now if
// max(TAT, now) + n·(1min/N) − now ≤ 1min. So N requests pass at once from
// idle and, held steady, N pass per minute, as the contract says, with no
// window edge to burst across (a fixed window admits 2N around its edge) and
// one integer per bucket (a sliding log keeps every request). A bucket whose
// TAT has passed behaves exactly like a new one, so idle buckets are dropped
// and memory follows the active keys. The state is a time, not a count, so a
// new rate (SetTier) applies at once: a full bucket stays full but refills
// at the new pace.

// rateCheck is one bucket's verdict.
type rateCheck struct {
	allowed    bool
	tat        int64 // the TAT to store if the request is admitted
	slack      int64 // ns of burst left: remaining = slack / interval
	params     rateParams
	resetIn    int64 // ns from now until the bucket is full again
	retryAfter int64 // ns; zero when allowed
}

const ratePeriod = int64(time.Minute)

// rateParams is a rate per minute with its refill interval, the time one
// request takes to refill. Entries cache them, since integer division is
// the dearest step of the hot path.
type rateParams struct{ rate, interval int64 }

func paramsOf(rate int) rateParams {
	r := int64(min(max(rate, 1), MaxRequestsPerMinute))
	return rateParams{rate: r, interval: ratePeriod / r}
}

// gcra decides n requests against a bucket with the given TAT at now, into
// r; both times are monotonic nanoseconds. (It writes through a pointer:
// this runs twice per request, and copying the verdicts showed in
// profiles.)
//
// The arithmetic cannot overflow: a TAT is never more than ratePeriod ahead
// of now, and n is clamped to 2·rate before it is multiplied, so
// n·interval ≤ 2·ratePeriod. The clamp changes no verdict: a full bucket
// holds at most rate·ratePeriod/(ratePeriod−rate) requests (the interval
// rounds down), under 2·rate for any rate up to MaxRequestsPerMinute, so
// 2·rate never fits. (Multiplying an unclamped n let a huge batch wrap
// around to a small or negative cost and pass.)
func gcra(r *rateCheck, tat, now int64, p rateParams, n int64) {
	tat = max(tat, now)
	next := tat + p.interval*min(n, 2*p.rate)
	r.params = p
	if next-now <= ratePeriod {
		r.allowed, r.tat, r.slack, r.resetIn, r.retryAfter = true, next, ratePeriod-(next-now), next-now, 0
		return
	}
	r.allowed, r.tat, r.slack, r.resetIn, r.retryAfter = false, tat, ratePeriod-(tat-now), tat-now, next-ratePeriod-now
}

// remaining is how many more requests the bucket admits now.
func (r *rateCheck) remaining() int64 { return r.slack / r.params.interval }

// bindingRate returns the verdict that decides: a refusal (the longer wait
// if both refuse), else the one with fewer requests left.
func bindingRate(a, b *rateCheck) *rateCheck {
	switch {
	case !a.allowed && !b.allowed:
		if b.retryAfter > a.retryAfter {
			return b
		}
		return a
	case !a.allowed:
		return a
	case !b.allowed:
		return b
	case fewerLeft(b, a):
		return b
	default:
		return a
	}
}

// fewerLeft reports whether a has fewer requests left than b. When both
// buckets share an interval (a root key, or a child without a rate
// override) comparing slack is enough and saves two divisions.
func fewerLeft(a, b *rateCheck) bool {
	if a.params.interval == b.params.interval {
		return a.slack < b.slack
	}
	ra, rb := a.remaining(), b.remaining()
	return ra < rb
}
