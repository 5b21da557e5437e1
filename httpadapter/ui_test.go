package httpadapter_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/internal/ui"
)

func TestScriptServedUnderHashedAndPlainName(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	url := f.h.ScriptURL()
	if !regexp.MustCompile(`^/account/ui/keys\.[0-9a-f]{12}\.js$`).MatchString(url) {
		t.Fatalf("ScriptURL() = %q, want /account/ui/keys.<12 hex>.js", url)
	}
	hashed := f.do(req{path: url})
	if hashed.Code != http.StatusOK || !bytes.Equal(hashed.Body.Bytes(), ui.Script()) {
		t.Fatalf("GET %s: %d, %d bytes; want 200 and the script", url, hashed.Code, hashed.Body.Len())
	}
	if got := hashed.Header().Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("hashed name Cache-Control = %q, want immutable", got)
	}
	if got := hashed.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/javascript") {
		t.Errorf("Content-Type = %q, want text/javascript", got)
	}
	plain := f.do(req{path: "/account/ui/keys.js"})
	if plain.Code != http.StatusOK || plain.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET keys.js: %d, Cache-Control %q; want 200, no-cache", plain.Code, plain.Header().Get("Cache-Control"))
	}
	// A revalidation with the ETag is answered without the body.
	r := httptest.NewRequest(http.MethodGet, "/account/ui/keys.js", nil)
	r.Header.Set("If-None-Match", plain.Header().Get("ETag"))
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}
}

func TestScriptRefusesOtherNamesAndMethods(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{BasePath: "/api"})
	if !strings.HasPrefix(f.h.ScriptURL(), "/api/account/ui/") {
		t.Fatalf("ScriptURL() = %q, want it under the base path", f.h.ScriptURL())
	}
	checkError(t, f.direct(req{path: "/api/account/ui/keys.0000.js"}), http.StatusNotFound, "not_found")
	checkError(t, f.direct(req{path: "/api/account/ui/"}), http.StatusNotFound, "not_found")
	checkError(t, f.direct(req{method: http.MethodPost, path: f.h.ScriptURL()}), http.StatusMethodNotAllowed, "method_not_allowed")
}

// The component must stay small and must run under a strict
// Content-Security-Policy: nothing in it may need 'unsafe-eval' or
// 'unsafe-inline', and nothing may be parsed as markup.
func TestScriptBudgetAndCSPHygiene(t *testing.T) {
	src := string(ui.Script())
	if n := len(src); n >= 30000 {
		t.Errorf("keys.js is %d bytes; the budget is under 30,000", n)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "setAttribute(\"style\"", ".cssText", "http://", "https://"} {
		if strings.Contains(src, bad) {
			t.Errorf("keys.js contains %q", bad)
		}
	}
}

func TestScriptOffWithKeyManagement(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{DisableKeyManagement: true})
	checkError(t, f.do(req{path: f.h.ScriptURL()}), http.StatusNotFound, "not_found")
	checkError(t, f.do(req{path: "/account/ui/keys.js"}), http.StatusNotFound, "not_found")
}
