package httpadapter_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// FuzzHandler throws arbitrary methods, paths, Authorization headers and
// bodies at the account endpoints and a RequireKey data route over a
// healthy store: nothing may panic or answer 5xx, every 401 carries
// WWW-Authenticate, every answer of the package is JSON of the contract's
// shapes. auth holds one Authorization value per line ("" = none).
func FuzzHandler(f *testing.F) {
	// Log at Debug level, to exercise the logging, into nothing: the
	// fuzzer runs millions of requests.
	w := newHostileWorldWith(f, httpadapter.Options{MaxBodyBytes: 4096,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	childIss := w.fixture.child(f, "acct_1", keys.ChildOptions{})
	child, childID := childIss.Secret, childIss.Key.ID.String()
	w.account(f, "acct_nokey", keys.Free, true)
	w.account(f, "acct_unverified", keys.Free, false)

	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", ""} {
		for _, path := range []string{"/account/key", "/account/key/reissue", "/account/key/", "/account/x", "/v1/data",
			"/account/key%2Freissue", "/account/%6Bey", "/account/key/../key",
			"/account/keys", "/account/keys/" + childID, "/account/keys/x", "/account/keys/", "/account/usage",
			"/account/keys?limit=0&cursor=%ff&include_revoked=1", "/account/usage?month=2026-13"} {
			for _, auth := range []string{"", "Bearer " + w.root, "bearer " + child, "Bearer session-acct_1",
				"Bearer session-nokey", "Bearer session-unverified", "Bearer session-ghost",
				"Bearer sk_live_x", "Basic abc", "Bearer", "Bearer " + w.root + "\nBearer " + w.root} {
				f.Add(method, path, auth, "")
			}
		}
	}
	f.Add("POST", "/account/key/reissue", "Bearer "+w.root, strings.Repeat("x", 5000))
	f.Add("POST", "/account/key/reissue", "Bearer session-acct_1", "\x00\xff{]")
	// The key-management routes' bodies: every field, of the right and
	// the wrong types.
	for _, body := range []string{`{}`, `[]`, `null`, `{"name":"x","metadata":{"a":"b"},"scopes":["s:r"],` +
		`"allowed_networks":["10.0.0.0/8","::1/128"],"expires_at":"2030-01-01T00:00:00Z",` +
		`"quota_requests_per_month_override":5,"rate_requests_per_minute_override":5}`,
		`{"name":null,"metadata":null,"scopes":null,"allowed_networks":null,"expires_at":null,` +
			`"quota_requests_per_month_override":null,"rate_requests_per_minute_override":null}`,
		`{"scopes":[]}`, `{"metadata":{}}`, `{"allowed_networks":["x"]}`, `{"expires_at":5}`,
		`{"quota_requests_per_month_override":-1e400}`, `{"name":"\ud800"}`} {
		f.Add("POST", "/account/keys", "Bearer "+w.root, body)
		f.Add("PATCH", "/account/keys/"+childID, "Bearer session-acct_1", body)
	}

	f.Fuzz(func(t *testing.T, method, path, auth, body string) {
		u, err := url.ParseRequestURI(path)
		if err != nil {
			u = &url.URL{Path: path}
		}
		r := &http.Request{
			Method: method, URL: u, RequestURI: path, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "example.com",
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		}
		if auth != "" {
			for v := range strings.SplitSeq(auth, "\n") {
				r.Header.Add("Authorization", v)
			}
		}
		rec := httptest.NewRecorder()
		w.mux.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%q %q auth %q: %d %s", method, path, auth, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without WWW-Authenticate")
		}
		if rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			return // the data route's own answer, or a mux redirect
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%q %q: body is not JSON: %s", method, path, rec.Body)
		}
		if _, isErr := v["error"]; isErr && rec.Code < 400 {
			t.Fatalf("error body with status %d", rec.Code)
		}
		if rec.Code >= 400 {
			var e errorBody
			dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || e.Error.Code == "" {
				t.Fatalf("error body of the wrong shape: %s", rec.Body)
			}
		}
	})
}

// FuzzJWTStrict throws arbitrary tokens at both JWT verifiers: nothing may
// panic, and only the one signed token passes. (Ed25519 signatures are not
// malleable and the reading is canonical, so no other string of bytes
// verifies.)
func FuzzJWTStrict(f *testing.F) {
	clk := &fakeClock{now: start}
	k := newHandKey(f, "EdDSA", "k1")
	static, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{PublicKey: k.priv.Public(), Clock: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	jwks := newJWKSVerifier(f, newJWKSServer(f, k), clk, nil)
	good := k.token(f, good(clk, "acct_1"))
	f.Add(good)
	f.Add(good + "A")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(b64([]byte(`{"alg":"EdDSA","kid":"k1","crit":["b64"],"b64":false}`)) + "." + b64([]byte(`{"exp":1e300}`)) + ".AAAA")
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range []httpadapter.SessionVerifier{static, jwks} {
			if acct, err := v.VerifySession(context.Background(), tok); err == nil && tok != good {
				t.Fatalf("accepted %q as %q", tok, acct)
			}
		}
	})
}
