package httpadapter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// cookieSessions reads the "sid" cookie: a known one is acct_1's session,
// an unknown one an error, none no session.
func cookieSessions(r *http.Request) (string, error) {
	c, err := r.Cookie("sid")
	if err != nil {
		return "", nil
	}
	switch c.Value {
	case "s1":
		return "acct_1", nil
	case "st":
		return "acct_t", nil // tier t: 2 requests a minute
	}
	return "", errors.New("no such session")
}

// cookieReq is a request to the fixture's host (example.com) with the
// given cookie and headers ("Name: value"). Its body is "{}", a valid
// reissue body (a text/plain form can post that too: only the origin
// check stops it).
func cookieReq(method, path, sid string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, "http://example.com"+path, strings.NewReader("{}"))
	if sid != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Add(k, v)
	}
	return r
}

func TestSessionFromRequest(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{
		SessionFromRequest: cookieSessions,
		TrustedOrigins:     []string{"https://app.example"},
	})
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	do := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, r)
		return rec
	}
	rootID := func() string {
		k, err := f.m.RootKey(context.Background(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		return k.ID.String()
	}

	t.Run("cross-site form post refused", func(t *testing.T) {
		before := rootID()
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "s1",
			"Sec-Fetch-Site: cross-site", "Origin: https://evil.example",
			"Content-Type: application/x-www-form-urlencoded"))
		checkError(t, rec, http.StatusForbidden, httpadapter.CodeCrossOriginRequest)
		checkRateHeaders(t, rec)
		if rootID() != before {
			t.Fatal("the cross-site post reissued the key")
		}
	})
	t.Run("cross-site refusals count against the rate", func(t *testing.T) {
		f.account(t, "acct_t", testTier, true)
		for range 2 {
			rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "st", "Sec-Fetch-Site: cross-site"))
			checkError(t, rec, http.StatusForbidden, httpadapter.CodeCrossOriginRequest)
		}
		// The third is still a 403 (credentials come before the rate)...
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "st", "Sec-Fetch-Site: cross-site"))
		checkError(t, rec, http.StatusForbidden, httpadapter.CodeCrossOriginRequest)
		if rec.Header().Get("X-RateLimit-Remaining") != "0" {
			t.Errorf("X-RateLimit-Remaining = %q", rec.Header().Get("X-RateLimit-Remaining"))
		}
		// ...and the account's own same-origin request finds the minute used.
		rec = do(cookieReq(http.MethodPost, "/account/key/reissue", "st", "Sec-Fetch-Site: same-origin"))
		checkError(t, rec, http.StatusTooManyRequests, httpadapter.CodeRateLimited)
	})
	t.Run("cross-origin post without Sec-Fetch-Site refused", func(t *testing.T) {
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "s1", "Origin: https://evil.example"))
		checkError(t, rec, http.StatusForbidden, httpadapter.CodeCrossOriginRequest)
	})
	t.Run("same-site but cross-origin refused", func(t *testing.T) {
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "s1",
			"Sec-Fetch-Site: same-site", "Origin: https://other.example.com"))
		checkError(t, rec, http.StatusForbidden, httpadapter.CodeCrossOriginRequest)
	})
	t.Run("same-origin fetch passes", func(t *testing.T) {
		before := rootID()
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "s1",
			"Sec-Fetch-Site: same-origin", "Origin: http://example.com"))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if rootID() == before {
			t.Fatal("no reissue happened")
		}
	})
	t.Run("trusted origin passes", func(t *testing.T) {
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "s1",
			"Sec-Fetch-Site: cross-site", "Origin: https://app.example"))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("cross-site GET passes (it changes nothing)", func(t *testing.T) {
		rec := do(cookieReq(http.MethodGet, "/account/key", "s1", "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("bad cookie", func(t *testing.T) {
		checkError(t, do(cookieReq(http.MethodGet, "/account/key", "forged")), http.StatusUnauthorized, httpadapter.CodeInvalidSession)
	})
	t.Run("no credential at all", func(t *testing.T) {
		checkError(t, do(cookieReq(http.MethodGet, "/account/key", "")), http.StatusUnauthorized, httpadapter.CodeMissingCredentials)
	})
	t.Run("Authorization wins over the cookie", func(t *testing.T) {
		checkError(t, do(cookieReq(http.MethodGet, "/account/key", "s1", "Authorization: Bearer not-a-session")),
			http.StatusUnauthorized, httpadapter.CodeInvalidSession)
		checkError(t, do(cookieReq(http.MethodGet, "/account/key", "s1", "Authorization: Basic Zm9vOmJhcg==")),
			http.StatusUnauthorized, httpadapter.CodeMissingCredentials)
	})
	t.Run("bearer credentials are not cross-origin checked", func(t *testing.T) {
		iss := f.reissue(t, "acct_1")
		rec := do(cookieReq(http.MethodPost, "/account/key/reissue", "",
			"Sec-Fetch-Site: cross-site", "Origin: https://evil.example", "Authorization: Bearer "+iss.Secret))
		if rec.Code != http.StatusOK {
			t.Fatalf("root key cross-site: %d %s", rec.Code, rec.Body)
		}
		rec = do(cookieReq(http.MethodPost, "/account/key/reissue", "",
			"Sec-Fetch-Site: cross-site", "Origin: https://evil.example", "Authorization: Bearer session-acct_1"))
		if rec.Code != http.StatusOK {
			t.Fatalf("bearer session cross-site: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("key management and usage take the cookie session", func(t *testing.T) {
		for _, path := range []string{"/account/keys", "/account/usage"} {
			if rec := do(cookieReq(http.MethodGet, path, "s1")); rec.Code != http.StatusOK {
				t.Errorf("GET %s with the cookie: %d %s", path, rec.Code, rec.Body)
			}
		}
		rec := do(cookieReq(http.MethodPost, "/account/keys", "s1", "Sec-Fetch-Site: cross-site", "Origin: https://evil.example"))
		checkError(t, rec, http.StatusForbidden, "cross_origin_request")
		ks, _ := f.m.ListKeys(context.Background(), "acct_1")
		rec = do(cookieReq(http.MethodPost, "/account/keys", "s1", "Sec-Fetch-Site: same-origin"))
		if rec.Code != http.StatusCreated {
			t.Fatalf("same-origin POST /account/keys: %d %s", rec.Code, rec.Body)
		}
		if after, _ := f.m.ListKeys(context.Background(), "acct_1"); len(after) != len(ks)+1 {
			t.Errorf("keys %d → %d; the refused cross-site POST or the same-origin one miscounted", len(ks), len(after))
		}
	})
	t.Run("data routes ignore the cookie", func(t *testing.T) {
		checkError(t, do(cookieReq(http.MethodGet, "/v1/x", "s1")), http.StatusUnauthorized, httpadapter.CodeMissingCredentials)
	})
}

func TestTrustedOriginMalformedPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	newFixture(t, keys.Config{}, httpadapter.Options{TrustedOrigins: []string{"not an origin"}})
}
