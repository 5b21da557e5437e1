package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

func TestAddressedByIP(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.1": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST": true,
		"192.0.2.7:80": true, "evil.example": false, "evil.example:8080": false, "127.0.0.1.nip.io:8080": false, "": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		if got := addressedByIP(r); got != want {
			t.Errorf("addressedByIP(Host %q) = %v, want %v", host, got, want)
		}
	}
}

// demoWorld is serve's wiring of the demo page over a memstore.
func demoWorld(t *testing.T) (*http.ServeMux, *demoPage, *keys.Manager) {
	t.Helper()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "demo", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reissue(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	page, err := newDemoPage("demo", httpadapter.New(m, httpadapter.Options{}).ScriptURL())
	if err != nil {
		t.Fatal(err)
	}
	h := httpadapter.New(m, httpadapter.Options{SessionFromRequest: page.session})
	mux := http.NewServeMux()
	mux.Handle("/account/", h)
	mux.Handle("/{$}", onlyMethods("GET, HEAD", page))
	mux.Handle("/", notFound)
	return mux, page, m
}

func TestDemoPage(t *testing.T) {
	mux, page, m := demoWorld(t)
	rec := httptest.NewRecorder()
	r := loopback(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/", nil))
	mux.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	script := httpadapter.New(m, httpadapter.Options{}).ScriptURL()
	if !strings.Contains(body, `<script type="module" src="`+script+`">`) || !strings.Contains(body, "<keys-manager>") {
		t.Fatalf("the page does not load the component:\n%s", body)
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Count(body, "<script") != 1 {
		t.Error("the page has inline style or script")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != demoCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %v, want one HttpOnly SameSite=Strict %s", cookies, demoCookie)
	}

	// The cookie is the demo account's session on the account routes.
	get := func(host, cookie string) *httptest.ResponseRecorder {
		r := loopback(httptest.NewRequest(http.MethodGet, "http://"+host+"/account/key", nil))
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: demoCookie, Value: cookie})
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}
	if rec := get("127.0.0.1:8080", page.token); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"is_root_key":true`) {
		t.Fatalf("GET /account/key with the demo cookie: %d %s", rec.Code, rec.Body)
	}
	if rec := get("127.0.0.1:8080", "stale"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "invalid_session") {
		t.Errorf("a stale cookie: %d %s, want 401 invalid_session", rec.Code, rec.Body)
	}
	if rec := get("127.0.0.1:8080", ""); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "missing_credentials") {
		t.Errorf("no cookie: %d %s, want 401 missing_credentials", rec.Code, rec.Body)
	}
	// Another machine (serve listening on 0.0.0.0) gets neither the page
	// nor the session, even addressing the server by its IP.
	for _, path := range []string{"/", "/account/key"} {
		r := httptest.NewRequest(http.MethodGet, "http://192.0.2.7:8080"+path, nil)
		r.RemoteAddr = "203.0.113.9:4444"
		r.AddCookie(&http.Cookie{Name: demoCookie, Value: page.token})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK || len(rec.Result().Cookies()) != 0 {
			t.Errorf("GET %s from another machine: %d, cookies %v; want a refusal and no cookie", path, rec.Code, rec.Result().Cookies())
		}
	}
	// A DNS name rebound to 127.0.0.1 gets neither the page nor the session.
	if rec := get("rebound.example:8080", page.token); rec.Code != http.StatusUnauthorized {
		t.Errorf("the cookie under a DNS name: %d, want 401", rec.Code)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, loopback(httptest.NewRequest(http.MethodGet, "http://rebound.example:8080/", nil)))
	if rec.Code != http.StatusNotFound || len(rec.Result().Cookies()) != 0 {
		t.Errorf("the page under a DNS name: %d, cookies %v; want a JSON 404 and no cookie", rec.Code, rec.Result().Cookies())
	}

	// A cross-site form post with the cookie cannot reissue the key.
	r = loopback(httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/account/key/reissue", strings.NewReader("{}")))
	r.AddCookie(&http.Cookie{Name: demoCookie, Value: page.token})
	r.Header.Set("Origin", "http://evil.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "cross_origin_request") {
		t.Errorf("cross-site reissue with the demo cookie: %d %s, want 403 cross_origin_request", rec.Code, rec.Body)
	}
	// The page's own same-origin fetch can.
	r = loopback(httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/account/key/reissue", strings.NewReader(`{"grace_period_seconds":60}`)))
	r.AddCookie(&http.Cookie{Name: demoCookie, Value: page.token})
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"key":"sk_live_`) {
		t.Errorf("same-origin reissue: %d %s", rec.Code, rec.Body)
	}
}

// loopback makes r come from this machine.
func loopback(r *http.Request) *http.Request {
	r.RemoteAddr = "127.0.0.1:50000"
	return r
}
