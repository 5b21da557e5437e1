package httpadapter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/internal/tokentest"
)

// TestBusyIs503WithRetryAfter: past the Manager's lookup budget a token is
// answered 503 service_unavailable with Retry-After: 1 over HTTP, never
// 401, on a data route and on the account routes alike.
func TestBusyIs503WithRetryAfter(t *testing.T) {
	f := newFixture(t, keys.Config{LookupRate: 2}, httpadapter.Options{})
	srv := httptest.NewServer(f.mux)
	defer srv.Close()
	get := func(path, tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 2 {
		if resp := get("/v1/data", tokentest.Forged()); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged token within the budget: %d, want 401", resp.StatusCode)
		}
	}
	for _, path := range []string{"/v1/data", "/account/key"} {
		resp := get(path, tokentest.Forged())
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("%s past the budget: %d Retry-After %q, want 503 and 1",
				path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	rec := f.do(req{method: http.MethodGet, path: "/v1/data", auth: bearer(tokentest.Forged())})
	checkError(t, rec, http.StatusServiceUnavailable, httpadapter.CodeServiceUnavailable)
}
