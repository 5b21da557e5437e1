package httpadapter_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// errorWorld holds the accounts and keys the error-table rows need.
type errorWorld struct {
	*fixture
	root, child, revoked, expiring keys.Issued
	unknown                        string // a well-formed token no store knows
	tRoot                          keys.Issued
}

func newErrorWorld(t *testing.T) *errorWorld {
	t.Helper()
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	w := &errorWorld{fixture: f}
	f.account(t, "acct_1", keys.Pro, true)
	f.account(t, "acct_unverified", keys.Pro, false)
	f.account(t, "acct_nokey", keys.Pro, true)
	f.account(t, "acct_t", testTier, true)
	w.root = f.reissue(t, "acct_1")
	w.child = f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	w.revoked = f.child(t, "acct_1", keys.ChildOptions{})
	if err := f.m.Revoke(context.Background(), w.revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	exp := start.Add(time.Minute)
	w.expiring = f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp})
	w.tRoot = f.reissue(t, "acct_t")

	other, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_ = other.CreateAccount(context.Background(), keys.Account{ID: "x", EmailVerified: true})
	iss, err := other.Reissue(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	w.unknown = iss.Secret
	return w
}

// TestErrorTable walks every row of the error table (README, "Errors"),
// plus the codes this package adds, on every route the row applies to.
func TestErrorTable(t *testing.T) {
	for i := range len(errorRows(newErrorWorld(t))) {
		w := newErrorWorld(t) // every row gets a fresh world
		tt := errorRows(w)[i]
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			rec := w.do(tt.r)
			checkError(t, rec, tt.status, tt.code)
			if tt.status == 401 {
				if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
				}
			} else if got := rec.Header().Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate on a %d: %q", tt.status, got)
			}
			if tt.authed {
				checkRateHeaders(t, rec)
			} else {
				checkNoRateHeaders(t, rec)
			}
			if tt.status == 405 {
				allow := rec.Header().Get("Allow")
				if want := map[string]string{"/account/key": "GET, HEAD", "/account/key/reissue": "POST"}[tt.r.path]; allow != want {
					t.Errorf("Allow = %q, want %q", allow, want)
				}
			}
			if tt.status == 429 {
				if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
					t.Errorf("429 with Retry-After %q", ra)
				}
			} else if ra := rec.Header().Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After on a %d: %q", tt.status, ra)
			}
			for _, secret := range []string{w.root.Secret, w.child.Secret, w.tRoot.Secret, w.unknown} {
				if strings.Contains(rec.Body.String(), secret) || strings.Contains(w.logs.String(), secret) {
					t.Errorf("a token leaked into the body or the log")
				}
			}
		})
	}
}

type errorRow struct {
	name   string
	setup  func(t *testing.T)
	r      req
	status int
	code   string
	// challenge is the exact WWW-Authenticate of a 401.
	challenge string
	// authed: the key authenticated, so rate-limit headers are due.
	authed bool
}

func errorRows(w *errorWorld) []errorRow {
	malformed := "sk_live_" + strings.Repeat("A", 49) // right shape, wrong checksum
	return []errorRow{
		// no/empty Authorization, not Bearer → 401 missing_credentials
		{name: "no Authorization", r: req{path: "/account/key"},
			status: 401, code: "missing_credentials", challenge: "Bearer"},
		{name: "no Authorization on reissue", r: req{method: "POST", path: "/account/key/reissue"},
			status: 401, code: "missing_credentials", challenge: "Bearer"},
		{name: "no Authorization on data route", r: req{path: "/v1/x"},
			status: 401, code: "missing_credentials", challenge: "Bearer"},
		{name: "empty Authorization", r: req{path: "/account/key", auth: []string{""}},
			status: 401, code: "missing_credentials", challenge: "Bearer"},
		{name: "empty bearer", r: req{path: "/account/key", auth: []string{"Bearer "}},
			status: 401, code: "missing_credentials", challenge: `Bearer error="invalid_request"`},
		{name: "Bearer without token", r: req{path: "/v1/x", auth: []string{"Bearer"}},
			status: 401, code: "missing_credentials", challenge: `Bearer error="invalid_request"`},
		{name: "Basic scheme", r: req{path: "/account/key", auth: []string{"Basic dXNlcjpwYXNz"}},
			status: 401, code: "missing_credentials", challenge: "Bearer"},
		{name: "token without scheme", r: req{path: "/account/key", auth: []string{w.root.Secret}},
			status: 401, code: "missing_credentials", challenge: "Bearer"},

		// malformed / unknown key → 401 invalid_api_key
		{name: "malformed key", r: req{path: "/account/key", auth: bearer(malformed)},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},
		{name: "truncated key", r: req{path: "/v1/x", auth: bearer(w.root.Secret[:40])},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},
		{name: "unknown key", r: req{path: "/account/key", auth: bearer(w.unknown)},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},
		{name: "unknown key on data route", r: req{path: "/v1/x", auth: bearer(w.unknown)},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},
		{name: "unknown key on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer(w.unknown)},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},
		{name: "session token on data route", r: req{path: "/v1/x", auth: bearer("session-acct_1")},
			status: 401, code: "invalid_api_key", challenge: `Bearer error="invalid_token"`},

		// revoked key / expired key → 401 key_revoked / key_expired
		{name: "revoked key", r: req{path: "/account/key", auth: bearer(w.revoked.Secret)},
			status: 401, code: "key_revoked", challenge: `Bearer error="invalid_token"`},
		{name: "revoked key on data route", r: req{path: "/v1/x", auth: bearer(w.revoked.Secret)},
			status: 401, code: "key_revoked", challenge: `Bearer error="invalid_token"`},
		{name: "revoked key on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer(w.revoked.Secret)},
			status: 401, code: "key_revoked", challenge: `Bearer error="invalid_token"`},
		{name: "expired key", setup: func(*testing.T) { w.clock.Set(start.Add(2 * time.Minute)) },
			r:      req{path: "/account/key", auth: bearer(w.expiring.Secret)},
			status: 401, code: "key_expired", challenge: `Bearer error="invalid_token"`},
		{name: "expired key on data route", setup: func(*testing.T) { w.clock.Set(start.Add(2 * time.Minute)) },
			r:      req{path: "/v1/x", auth: bearer(w.expiring.Secret)},
			status: 401, code: "key_expired", challenge: `Bearer error="invalid_token"`},

		// bad or expired session → 401 invalid_session
		{name: "bad session", r: req{path: "/account/key", auth: bearer("session-nobody")},
			status: 401, code: "invalid_session", challenge: `Bearer error="invalid_token"`},
		{name: "bad session on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer("eyJhbGciOiJub25lIn0.e30.")},
			status: 401, code: "invalid_session", challenge: `Bearer error="invalid_token"`},

		// child key on reissue → 403 child_key_forbidden
		{name: "child key on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer(w.child.Secret)},
			status: 403, code: "child_key_forbidden", authed: true},

		// email not verified on reissue → 403 email_not_verified
		{name: "unverified email on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer("session-unverified")},
			status: 403, code: "email_not_verified", authed: true},

		// session account without an active root key (GET) → 404 no_active_key
		{name: "session without key", r: req{path: "/account/key", auth: bearer("session-nokey")},
			status: 404, code: "no_active_key", authed: true},
		{name: "session of an account whose root was revoked",
			setup: func(t *testing.T) {
				if err := w.m.Revoke(context.Background(), w.root.Key.ID); err != nil {
					t.Fatal(err)
				}
			},
			r:      req{path: "/account/key", auth: bearer("session-acct_1")},
			status: 404, code: "no_active_key", authed: true},

		// wrong method → 405 + Allow
		{name: "DELETE /account/key", r: req{method: "DELETE", path: "/account/key", auth: bearer(w.root.Secret)},
			status: 405, code: "method_not_allowed"},
		{name: "POST /account/key", r: req{method: "POST", path: "/account/key"},
			status: 405, code: "method_not_allowed"},
		{name: "GET /account/key/reissue", r: req{path: "/account/key/reissue", auth: bearer(w.root.Secret)},
			status: 405, code: "method_not_allowed"},

		// per-minute rate exceeded → 429 + Retry-After rate_limited
		{name: "rate exceeded on GET",
			setup:  func(t *testing.T) { w.exhaustRate(t, "/account/key", w.tRoot.Secret) },
			r:      req{path: "/account/key", auth: bearer(w.tRoot.Secret)},
			status: 429, code: "rate_limited", authed: true},
		{name: "rate exceeded on data route",
			setup:  func(t *testing.T) { w.exhaustRate(t, "/v1/x", w.tRoot.Secret) },
			r:      req{path: "/v1/x", auth: bearer(w.tRoot.Secret)},
			status: 429, code: "rate_limited", authed: true},
		{name: "rate exceeded on reissue",
			setup:  func(t *testing.T) { w.exhaustRate(t, "/account/key", "session-t") },
			r:      req{method: "POST", path: "/account/key/reissue", auth: bearer("session-t")},
			status: 429, code: "rate_limited", authed: true},

		// monthly quota exhausted (data routes) → 429 + Retry-After quota_exceeded
		{name: "quota exhausted",
			setup:  func(t *testing.T) { w.exhaustQuota(t, w.tRoot.Secret) },
			r:      req{path: "/v1/x", auth: bearer(w.tRoot.Secret)},
			status: 429, code: "quota_exceeded", authed: true},

		// store failure → 500 internal_error
		{name: "store failure", setup: func(*testing.T) { w.st.setFail("ActiveRootKey", true) },
			r:      req{path: "/account/key", auth: bearer("session-acct_1")},
			status: 500, code: "internal_error"},

		// Added codes.
		{name: "path not found", r: req{path: "/account/keyz", auth: bearer(w.root.Secret)},
			status: 404, code: "not_found"},
		{name: "session of an unknown account", r: req{path: "/account/key", auth: bearer("session-ghost")},
			status: 404, code: "account_not_found"},
		{name: "session of an unknown account on reissue", r: req{method: "POST", path: "/account/key/reissue", auth: bearer("session-ghost")},
			status: 404, code: "account_not_found"},
		{name: "body too large", r: req{method: "POST", path: "/account/key/reissue", auth: bearer(w.root.Secret),
			body: strings.NewReader(strings.Repeat("x", httpadapter.DefaultMaxBodyBytes+1))},
			status: 413, code: "request_too_large"},
	}
}

// exhaustRate spends the 2-per-minute rate of tier t.
func (w *errorWorld) exhaustRate(t *testing.T, path, token string) {
	t.Helper()
	for i := range 2 {
		if rec := w.get(path, token); rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}

// exhaustQuota spends the 3-per-month quota of tier t, waiting out the
// rate between requests.
func (w *errorWorld) exhaustQuota(t *testing.T, token string) {
	t.Helper()
	for i := range 3 {
		if rec := w.get("/v1/x", token); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		w.clock.Add(time.Minute)
	}
}

func TestClosedManager(t *testing.T) {
	w := newErrorWorld(t)
	if err := w.m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []req{
		{path: "/account/key", auth: bearer(w.root.Secret)},
		{path: "/account/key", auth: bearer("session-acct_1")},
		{method: "POST", path: "/account/key/reissue", auth: bearer("session-acct_1")},
		{path: "/v1/x", auth: bearer(w.root.Secret)},
	} {
		checkError(t, w.do(r), http.StatusServiceUnavailable, httpadapter.CodeServiceUnavailable)
	}
}
