package httpadapter

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keys"
)

// setRateHeaders sets X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset from d, and returns the refusal, if any, with its
// Retry-After. A zero Decision (the Manager failed before deciding) sets
// nothing.
func setRateHeaders(w http.ResponseWriter, d *keys.Decision) {
	if d.Limit == 0 && d.Reset.IsZero() {
		return
	}
	// Two allocations for the three headers: one string holding the three
	// numbers, one array holding the three values. Each value is a slice of
	// capacity 1, so a later Header.Add copies rather than overwrites.
	var buf [3 * 20]byte
	b := strconv.AppendInt(buf[:0], d.Limit, 10)
	i := len(b)
	b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
	j := len(b)
	b = strconv.AppendInt(b, ceilUnix(d.Reset), 10)
	s := string(b)
	vals := make([]string, 3)
	vals[0], vals[1], vals[2] = s[:i], s[i:j], s[j:]
	hdr := w.Header()
	hdr["X-Ratelimit-Limit"] = vals[0:1:1]
	hdr["X-Ratelimit-Remaining"] = vals[1:2:2]
	hdr["X-Ratelimit-Reset"] = vals[2:3:3]
}

// ceilUnix returns t in Unix seconds, rounded up: the reset is not before
// the time given.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// retryAfterSeconds formats d for Retry-After: whole seconds, rounded up,
// at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// refusal turns a failed Allow or AllowRate into its answer; a 429 carries
// the Decision's wait.
func refusal(d *keys.Decision, err error) *Error {
	e := fromKeys(err)
	if e.Status == http.StatusTooManyRequests {
		e.RetryAfter = max(d.RetryAfter, time.Second)
	}
	return e
}
