package httpadapter_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// TestSessionFloodIsGatedBeforeTheStore: a flood of requests with a valid
// session reads the store at most about twice the account's pool rate
// (the pool's own 429s, with their headers, come first), and an account
// whose pool was never read gets a small fixed budget. Every account
// route a session may read tells the gate the pool it read.
func TestSessionFloodIsGatedBeforeTheStore(t *testing.T) {
	// own: the account reads a served request makes besides the gate's
	// and the rate's (the key list and usage read the account again).
	for path, own := range map[string]int{"/account/key": 0, "/account/keys": 1, "/account/usage": 1, "/account/audit": 0} {
		t.Run(path, func(t *testing.T) { sessionFlood(t, path, own) })
	}
}

func sessionFlood(t *testing.T, path string, own int) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true) // 300 a minute
	f.reissue(t, "acct_1")
	before := f.st.accountReads.Load()
	var ok, pool, gate int
	for range 2000 {
		rec := f.do(req{method: http.MethodGet, path: path, auth: bearer("session-acct_1")})
		switch {
		case rec.Code == http.StatusOK:
			ok++
		case rec.Code == http.StatusTooManyRequests && rec.Header().Get("X-RateLimit-Limit") != "":
			pool++
		case rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") != "":
			gate++
		default:
			t.Fatalf("session flood: %d %s", rec.Code, rec.Body)
		}
	}
	reads := f.st.accountReads.Load() - before - int64(own*ok)
	if ok != 300 || ok+pool > 2*300 || reads > 2*300 {
		t.Fatalf("2,000 session requests, pool 300/min: %d ok, %d refused by the pool, %d by the gate, %d account reads; want 300 ok and at most 600 reads",
			ok, pool, gate, reads)
	}
	before = f.st.accountReads.Load()
	for range 200 {
		rec := f.do(req{method: http.MethodGet, path: path, auth: bearer("session-ghost")})
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("unknown account: %d %s", rec.Code, rec.Body)
		}
	}
	if reads := f.st.accountReads.Load() - before; reads > 30 {
		t.Fatalf("200 session requests for an account that does not exist: %d account reads, want at most 30", reads)
	}
	f.clock.Add(2 * time.Minute) // every bucket is full again
	if rec := f.do(req{method: http.MethodGet, path: path, auth: bearer("session-acct_1")}); rec.Code != http.StatusOK {
		t.Fatalf("after two minutes: %d", rec.Code)
	}
}
