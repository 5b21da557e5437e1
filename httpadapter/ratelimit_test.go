package httpadapter_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

// step is one request of a rate-limit scenario and what it must get.
type step struct {
	at         time.Duration // since start
	method     string
	path       string
	token      string
	status     int
	code       string    // for errors
	limit      string    // X-RateLimit-Limit
	remaining  string    // X-RateLimit-Remaining
	reset      time.Time // X-RateLimit-Reset
	retryAfter string    // Retry-After, "" = none
}

func runSteps(t *testing.T, f *fixture, steps []step) {
	t.Helper()
	for i, s := range steps {
		f.clock.Set(start.Add(s.at))
		if s.method == "" {
			s.method = http.MethodGet
		}
		rec := f.do(req{method: s.method, path: s.path, auth: bearer(s.token)})
		if s.code != "" {
			checkError(t, rec, s.status, s.code)
		} else if rec.Code != s.status {
			t.Fatalf("step %d (%s %s at +%v): status %d, want %d: %s", i, s.method, s.path, s.at, rec.Code, s.status, rec.Body)
		}
		want := [3]string{s.limit, s.remaining, unix(s.reset)}
		if got := rateHeaders(rec); got != want {
			t.Errorf("step %d (%s %s at +%v): rate headers %v, want %v", i, s.method, s.path, s.at, got, want)
		}
		if got := rec.Header().Get("Retry-After"); got != s.retryAfter {
			t.Errorf("step %d: Retry-After = %q, want %q", i, got, s.retryAfter)
		}
	}
}

// Tier t allows 2 requests a minute (one refills every 30s) and 3 a
// month.
func TestDataRouteRateAndQuota(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_t", testTier, true)
	tok := f.reissue(t, "acct_t").Secret
	nextMonth := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	runSteps(t, f, []step{
		// From idle: 2 at once; the bucket is whole again 30s per request later.
		{at: 0, path: "/v1/x", token: tok, status: 200, limit: "2", remaining: "1", reset: start.Add(30 * time.Second)},
		{at: 0, path: "/v1/x", token: tok, status: 200, limit: "2", remaining: "0", reset: start.Add(60 * time.Second)},
		// The third waits 30s for one request to refill.
		{at: 0, path: "/v1/x", token: tok, status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(60 * time.Second), retryAfter: "30"},
		// 10.5s later: 19.5s to wait, rounded up to 20.
		{at: 10500 * time.Millisecond, path: "/v1/x", token: tok, status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(60 * time.Second), retryAfter: "20"},
		// A minute on, the third fits and uses up the month: the quota,
		// with fewer left, is the headline window.
		{at: time.Minute, path: "/v1/x", token: tok, status: 200, limit: "3", remaining: "0", reset: nextMonth},
		{at: 2 * time.Minute, path: "/v1/x", token: tok, status: 429, code: "quota_exceeded",
			limit: "3", remaining: "0", reset: nextMonth,
			retryAfter: fmt.Sprint(int64(nextMonth.Sub(start.Add(2 * time.Minute)).Seconds()))},
		// The account endpoints still work: they count against the rate only.
		{at: 3 * time.Minute, path: "/account/key", token: tok, status: 200, limit: "2", remaining: "1",
			reset: start.Add(3*time.Minute + 30*time.Second)},
	})
	// A new month brings the quota back.
	f.clock.Set(nextMonth)
	if rec := f.get("/v1/x", tok); rec.Code != http.StatusOK {
		t.Errorf("next month: %d %s", rec.Code, rec.Body)
	}
}

// The account endpoints count against the per-minute rate, not the
// monthly quota.
func TestAccountEndpointsDoNotConsumeQuota(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_t", testTier, true)
	tok := f.reissue(t, "acct_t").Secret
	// Ten GETs, by key and by session, 30s apart: more than the monthly
	// quota of 3.
	for i := range 10 {
		f.clock.Set(start.Add(time.Duration(i) * 30 * time.Second))
		who := tok
		if i%2 == 1 {
			who = "session-t"
		}
		rec := f.get("/account/key", who)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %d: %d %s", i, rec.Code, rec.Body)
		}
		checkRateHeaders(t, rec)
	}
	// The data route still has its whole quota: 3 requests.
	for i := range 3 {
		f.clock.Add(time.Minute)
		if rec := f.get("/v1/x", tok); rec.Code != http.StatusOK {
			t.Fatalf("data request %d after the GETs: %d %s", i, rec.Code, rec.Body)
		}
	}
	f.clock.Add(time.Minute)
	checkError(t, f.get("/v1/x", tok), http.StatusTooManyRequests, httpadapter.CodeQuotaExceeded)
}

// A session's requests share the rate of its account's root key.
func TestSessionSharesRootKeyRate(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_t", testTier, true)
	tok := f.reissue(t, "acct_t").Secret
	runSteps(t, f, []step{
		{path: "/account/key", token: "session-t", status: 200, limit: "2", remaining: "1", reset: start.Add(30 * time.Second)},
		{path: "/account/key", token: tok, status: 200, limit: "2", remaining: "0", reset: start.Add(time.Minute)},
		{path: "/account/key", token: "session-t", status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(time.Minute), retryAfter: "30"},
		{method: "POST", path: "/account/key/reissue", token: "session-t", status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(time.Minute), retryAfter: "30"},
	})
}

// A session whose account has no root key yet is rated against the
// account's pool, and its 404 carries the headers.
func TestSessionWithoutKeyIsRated(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_t", testTier, true)
	runSteps(t, f, []step{
		{path: "/account/key", token: "session-t", status: 404, code: "no_active_key",
			limit: "2", remaining: "1", reset: start.Add(30 * time.Second)},
		{path: "/account/key", token: "session-t", status: 404, code: "no_active_key",
			limit: "2", remaining: "0", reset: start.Add(time.Minute)},
		{path: "/account/key", token: "session-t", status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(time.Minute), retryAfter: "30"},
		{method: "POST", path: "/account/key/reissue", token: "session-t", status: 429, code: "rate_limited",
			limit: "2", remaining: "0", reset: start.Add(time.Minute), retryAfter: "30"},
		{at: 30 * time.Second, method: "POST", path: "/account/key/reissue", token: "session-t", status: 200,
			limit: "2", remaining: "0", reset: start.Add(time.Minute + 30*time.Second)},
	})
}

// A child key is limited by its own override and by its account's pool.
func TestChildKeyRateOverride(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(1)}).Secret
	runSteps(t, f, []step{
		{path: "/v1/x", token: child, status: 200, limit: "1", remaining: "0", reset: start.Add(time.Minute)},
		{path: "/v1/x", token: child, status: 429, code: "rate_limited",
			limit: "1", remaining: "0", reset: start.Add(time.Minute), retryAfter: "60"},
		{path: "/account/key", token: child, status: 429, code: "rate_limited",
			limit: "1", remaining: "0", reset: start.Add(time.Minute), retryAfter: "60"},
		// Credentials are checked before the rate (DESIGN 5.6): a child
		// on reissue is forbidden, rate limit or not, and still counted.
		{method: "POST", path: "/account/key/reissue", token: child, status: 403, code: "child_key_forbidden",
			limit: "1", remaining: "0", reset: start.Add(time.Minute)},
	})
}
