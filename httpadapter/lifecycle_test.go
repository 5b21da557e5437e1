package httpadapter_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

func (f *fixture) postBody(path, token, body string) *httptest.ResponseRecorder {
	return f.do(req{method: http.MethodPost, path: path, auth: bearer(token), body: strings.NewReader(body)})
}

func reissuedKey(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("reissue: %d %s", rec.Code, rec.Body)
	}
	var b reissueBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Key
}

// TestReissueWithGraceOverHTTP: the old root and its children keep working
// until grace_period_seconds have passed; the old root may read itself but
// not reissue.
func TestReissueWithGraceOverHTTP(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	old := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	newRoot := reissuedKey(t, f.postBody("/account/key/reissue", "session-acct_1", `{"grace_period_seconds": 3600}`))
	end := start.Add(time.Hour)

	for _, tok := range []string{old.Secret, child.Secret, newRoot} {
		if rec := f.get("/v1/x", tok); rec.Code != 200 {
			t.Fatalf("data route during the grace: %d %s", rec.Code, rec.Body)
		}
	}
	rec := f.get("/account/key", old.Secret)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"is_active":true`) ||
		!strings.Contains(rec.Body.String(), `"expires_at":"`+end.Format(time.RFC3339)+`"`) {
		t.Fatalf("GET /account/key by the retiring root: %d %s", rec.Code, rec.Body)
	}
	rec = f.post("/account/key/reissue", old.Secret)
	checkError(t, rec, 403, "root_key_retired")
	checkRateHeaders(t, rec)
	// The session sees the new root.
	if rec := f.get("/account/key", "session-acct_1"); !strings.Contains(rec.Body.String(), `"expires_at":null`) {
		t.Fatalf("session GET during the grace: %s", rec.Body)
	}

	f.clock.Set(end)
	for _, tok := range []string{old.Secret, child.Secret} {
		checkError(t, f.get("/v1/x", tok), 401, "key_revoked")
	}
	if rec := f.get("/v1/x", newRoot); rec.Code != 200 {
		t.Fatalf("new root after the grace: %d", rec.Code)
	}
}

// TestReissueBodyRefused: every malformed body is 400 invalid_request
// naming the field, and nothing changes.
func TestReissueBodyRefused(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	for body, field := range map[string]string{
		`[]`:                               "JSON object",
		`null`:                             "JSON object",
		`"x"`:                              "JSON object",
		`{`:                                "not valid JSON",
		`{} {}`:                            "nothing after it",
		`{"grace_period_seconds": -1}`:     "grace_period_seconds",
		`{"grace_period_seconds": 604801}`: "grace_period_seconds",
		`{"grace_period_seconds": 3.5}`:    "grace_period_seconds",
		`{"grace_period_seconds": "3600"}`: "grace_period_seconds",
		`{"grace_period_seconds": 1e30}`:   "grace_period_seconds",
		// Wraps to a 0.29 s grace if multiplied into a Duration first.
		`{"grace_period_seconds": 18446744074}`:                      "grace_period_seconds",
		`{"grace_perid_seconds": 3600}`:                              "grace_perid_seconds",
		`{"if_root_key_id": "nope"}`:                                 "if_root_key_id",
		`{"if_root_key_id": 7}`:                                      "if_root_key_id",
		`{"if_root_key_id": "00000000-0000-0000-0000-000000000000"}`: "if_root_key_id",
	} {
		for _, tok := range []string{"session-acct_1", root.Secret} {
			rec := f.postBody("/account/key/reissue", tok, body)
			checkError(t, rec, 400, "invalid_request")
			checkRateHeaders(t, rec)
			if !strings.Contains(rec.Body.String(), field) {
				t.Errorf("body %s: message %s does not name %q", body, rec.Body, field)
			}
		}
		f.clock.Add(time.Second)
	}
	if rec := f.get("/v1/x", root.Secret); rec.Code != 200 {
		t.Fatalf("a refused reissue changed the root: %d", rec.Code)
	}
	// The limits themselves pass; null is absent.
	for _, body := range []string{`{"grace_period_seconds": 604800}`, `{"grace_period_seconds": null, "if_root_key_id": null}`, ` `} {
		reissuedKey(t, f.postBody("/account/key/reissue", "session-acct_1", body))
	}
}

// TestReissueOrderOfChecks: body size, credentials, rate, content,
// conditions.
func TestReissueOrderOfChecks(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{MaxBodyBytes: 64})
	f.account(t, "acct_t", testTier, true) // 2 requests a minute
	big := `{"grace_period_seconds": 1` + strings.Repeat(" ", 64) + `}`
	checkError(t, f.postBody("/account/key/reissue", "", big), 413, "request_too_large")
	checkError(t, f.postBody("/account/key/reissue", "session-nobody", `[]`), 401, "invalid_session")
	checkError(t, f.postBody("/account/key/reissue", "session-t", `{"if_root_key_id": "none", "x": 1}`), 400, "invalid_request")
	first := reissuedKey(t, f.postBody("/account/key/reissue", "session-t", `{"if_root_key_id": "none"}`))
	// Rate before content: the third request in the minute is 429 even
	// with a bad body.
	checkError(t, f.postBody("/account/key/reissue", "session-t", `[]`), 429, "rate_limited")
	f.clock.Add(time.Minute)
	// Content before conditions.
	checkError(t, f.postBody("/account/key/reissue", first, `{"if_root_key_id": "none", "grace_period_seconds": -5}`), 400, "invalid_request")
	checkError(t, f.postBody("/account/key/reissue", first, `{"if_root_key_id": "none"}`), 409, "root_key_changed")
}

func TestReissueConditionsOverHTTP(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	first := reissuedKey(t, f.postBody("/account/key/reissue", "session-acct_1", `{"if_root_key_id": "none"}`))
	rec := f.postBody("/account/key/reissue", "session-acct_1", `{"if_root_key_id": "none"}`)
	checkError(t, rec, 409, "root_key_changed")
	checkRateHeaders(t, rec)
	k, err := f.m.Authenticate(context.Background(), first)
	if err != nil {
		t.Fatalf("the first key after a refused second: %v", err)
	}
	second := reissuedKey(t, f.postBody("/account/key/reissue", "session-acct_1", `{"if_root_key_id": "`+k.ID.String()+`"}`))
	// A stale condition (the first root's ID) is refused.
	checkError(t, f.postBody("/account/key/reissue", "session-acct_1", `{"if_root_key_id": "`+k.ID.String()+`"}`), 409, "root_key_changed")
	// A root key naming itself passes; the replaced one keeps key_revoked.
	k2, _ := f.m.Authenticate(context.Background(), second)
	reissuedKey(t, f.postBody("/account/key/reissue", second, `{"if_root_key_id": "`+k2.ID.String()+`"}`))
	checkError(t, f.postBody("/account/key/reissue", second, `{"if_root_key_id": "`+k2.ID.String()+`"}`), 401, "key_revoked")
}

// TestFirstKeyDoubleClickOverHTTP: two concurrent first-key requests give
// one key and one 409, and the key shown works.
func TestFirstKeyDoubleClickOverHTTP(t *testing.T) {
	for range 10 {
		f := newFixture(t, keys.Config{}, httpadapter.Options{})
		f.account(t, "acct_1", keys.Pro, true)
		var wg sync.WaitGroup
		recs := make([]*httptest.ResponseRecorder, 2)
		for i := range recs {
			wg.Go(func() {
				recs[i] = f.postBody("/account/key/reissue", "session-acct_1", `{"if_root_key_id":"none"}`)
			})
		}
		wg.Wait()
		codes := map[int]int{}
		var shown string
		for _, rec := range recs {
			codes[rec.Code]++
			if rec.Code == 200 {
				shown = reissuedKey(t, rec)
			} else {
				checkError(t, rec, 409, "root_key_changed")
			}
		}
		if codes[200] != 1 || codes[409] != 1 {
			t.Fatalf("answers %v, want one 200 and one 409", codes)
		}
		if rec := f.get("/v1/x", shown); rec.Code != 200 {
			t.Fatalf("the key shown does not work: %d", rec.Code)
		}
	}
}

func TestRequireKeyScopes(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.mux.Handle("/scoped/", f.h.RequireKey(http.HandlerFunc(dataHandler), httpadapter.WithScopes("prices:read", "orders:read")))
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	partial := f.child(t, "acct_1", keys.ChildOptions{Scopes: []string{"prices:read"}})
	full := f.child(t, "acct_1", keys.ChildOptions{Scopes: []string{"orders:read", "prices:read", "x"}})
	free := f.child(t, "acct_1", keys.ChildOptions{})
	rec := f.get("/scoped/x", partial.Secret)
	checkError(t, rec, 403, "insufficient_scope")
	checkRateHeaders(t, rec)
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer error="insufficient_scope", scope="prices:read orders:read"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
	// The refusal counted against the rate, not the quota.
	k, _ := f.m.Authenticate(context.Background(), partial.Secret)
	d, err := f.m.Allow(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if d.Quota.Remaining != k.Effective.RequestsPerMonth-1 || d.Rate.Remaining != int64(k.Effective.RequestsPerMinute)-2 {
		t.Fatalf("after one refusal and one Allow: quota left %d of %d, rate left %d of %d",
			d.Quota.Remaining, k.Effective.RequestsPerMonth, d.Rate.Remaining, k.Effective.RequestsPerMinute)
	}
	for _, tok := range []string{root.Secret, full.Secret, free.Secret} {
		if rec := f.get("/scoped/x", tok); rec.Code != 200 {
			t.Fatalf("scoped route: %d %s", rec.Code, rec.Body)
		}
	}
}

func TestRequireKeyCost(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.mux.Handle("/batch/", f.h.RequireKey(http.HandlerFunc(dataHandler), httpadapter.WithCost(3)))
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	rec := f.get("/batch/x", root.Secret)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	d, ok := decisionOf(t, f, root.Secret)
	if !ok || d.Quota.Remaining != 500_000-4 {
		t.Fatalf("quota after a cost-3 request and one more: %d", d.Quota.Remaining)
	}
	if rem, _ := strconv.Atoi(rec.Header().Get("X-RateLimit-Remaining")); rem != 300-3 {
		t.Fatalf("X-RateLimit-Remaining after a cost-3 request = %d", rem)
	}
	for _, bad := range []func(){func() { httpadapter.WithCost(0) }, func() { httpadapter.WithScopes("Bad Scope") }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a bad RequireOption did not panic")
				}
			}()
			bad()
		}()
	}
}

func decisionOf(t *testing.T, f *fixture, token string) (keys.Decision, bool) {
	t.Helper()
	k, err := f.m.Authenticate(context.Background(), token)
	if err != nil {
		return keys.Decision{}, false
	}
	d, err := f.m.Allow(context.Background(), k)
	return d, err == nil
}

func TestAllowedNetworks(t *testing.T) {
	var mu sync.Mutex
	client := netip.MustParseAddr("192.0.2.1")
	f := newFixture(t, keys.Config{}, httpadapter.Options{ClientIP: func(*http.Request) netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		return client
	}})
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	k := f.child(t, "acct_1", keys.ChildOptions{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, path := range []string{"/v1/x", "/account/key"} {
		rec := f.get(path, k.Secret)
		checkError(t, rec, 403, "ip_not_allowed")
		checkRateHeaders(t, rec)
	}
	checkError(t, f.post("/account/key/reissue", k.Secret), 403, "ip_not_allowed")
	mu.Lock()
	client = netip.MustParseAddr("10.9.8.7")
	mu.Unlock()
	for _, path := range []string{"/v1/x", "/account/key"} {
		if rec := f.get(path, k.Secret); rec.Code != 200 {
			t.Fatalf("%s from an allowed address: %d %s", path, rec.Code, rec.Body)
		}
	}
	checkError(t, f.post("/account/key/reissue", k.Secret), 403, "child_key_forbidden")
}

// TestAllowedNetworksRemoteAddr: the default client address is the host of
// RemoteAddr; an address that does not parse is outside every network.
func TestAllowedNetworksRemoteAddr(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	k := f.child(t, "acct_1", keys.ChildOptions{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for remote, want := range map[string]int{"10.1.1.1:5555": 200, "[::1]:80": 200, "192.0.2.1:1234": 403, "@": 403, "": 403} {
		hr := httptest.NewRequest("GET", "/v1/x", nil)
		hr.RemoteAddr = remote
		hr.Header.Set("Authorization", "Bearer "+k.Secret)
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, hr)
		if rec.Code != want {
			t.Errorf("RemoteAddr %q: %d, want %d", remote, rec.Code, want)
		}
	}
}

func TestAlternativeCredentials(t *testing.T) {
	basic := func(user string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":")) }
	off := newFixture(t, keys.Config{}, httpadapter.Options{})
	on := newFixture(t, keys.Config{}, httpadapter.Options{AcceptAPIKeyHeader: true, AcceptBasicAuth: true})
	for _, f := range []*fixture{off, on} {
		f.account(t, "acct_1", keys.Pro, true)
	}
	offKey, onKey := off.reissue(t, "acct_1").Secret, on.reissue(t, "acct_1").Secret
	send := func(f *fixture, path string, hdr map[string][]string) *httptest.ResponseRecorder {
		hr := httptest.NewRequest("GET", path, nil)
		for k, vs := range hdr {
			for _, v := range vs {
				hr.Header.Add(k, v)
			}
		}
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, hr)
		return rec
	}
	// Off: only Bearer.
	checkError(t, send(off, "/v1/x", map[string][]string{"X-API-Key": {offKey}}), 401, "missing_credentials")
	checkError(t, send(off, "/v1/x", map[string][]string{"Authorization": {basic(offKey)}}), 401, "missing_credentials")
	// On: each works on data routes.
	for name, hdr := range map[string]map[string][]string{
		"X-API-Key": {"X-API-Key": {onKey}},
		"Basic":     {"Authorization": {basic(onKey)}},
		"Bearer":    {"Authorization": {"Bearer " + onKey}},
	} {
		if rec := send(on, "/v1/x", hdr); rec.Code != 200 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// Two credentials are ambiguous.
	checkError(t, send(on, "/v1/x", map[string][]string{"X-API-Key": {onKey}, "Authorization": {"Bearer " + onKey}}), 400, "invalid_request")
	checkError(t, send(on, "/v1/x", map[string][]string{"X-API-Key": {onKey, onKey}}), 400, "invalid_request")
	checkError(t, send(on, "/v1/x", map[string][]string{"X-API-Key": {"not-a-key"}}), 401, "invalid_api_key")
	checkError(t, send(on, "/v1/x", map[string][]string{"Authorization": {"Basic !!!"}}), 401, "missing_credentials")
	checkError(t, send(on, "/v1/x", map[string][]string{"Authorization": {basic("alice")}}), 401, "invalid_api_key")
	// Account routes take Bearer only.
	checkError(t, send(on, "/account/key", map[string][]string{"X-API-Key": {onKey}}), 401, "missing_credentials")
}

// An account whose email is not verified is refused (403) before its
// reissue body is read (400), in the contract's order.
func TestReissueUnverifiedBeforeBody(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_unverified", keys.Pro, false)
	checkError(t, f.postBody("/account/key/reissue", "session-unverified", `[]`), 403, "email_not_verified")
	checkError(t, f.postBody("/account/key/reissue", "session-unverified", `{"grace_period_seconds":-1}`), 403, "email_not_verified")
}
