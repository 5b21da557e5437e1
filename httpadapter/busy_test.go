package httpadapter_test

import (
	"crypto/rand"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// forge returns a well-formed sk_live_ token with a valid checksum that no
// key has (and no tag).
func forge(t testing.TB) string {
	var b [43]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = base62[int(b[i])%62]
	}
	b[0] = '0' // keep the body under 2^256
	s := "sk_live_" + string(b[:])
	sum := crc32.ChecksumIEEE([]byte(s))
	var c [6]byte
	for i := 5; i >= 0; i-- {
		c[i] = base62[sum%62]
		sum /= 62
	}
	return s + string(c[:])
}

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
		if resp := get("/v1/data", forge(t)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged token within the budget: %d, want 401", resp.StatusCode)
		}
	}
	for _, path := range []string{"/v1/data", "/account/key"} {
		resp := get(path, forge(t))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("%s past the budget: %d Retry-After %q, want 503 and 1",
				path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	rec := f.do(req{method: http.MethodGet, path: "/v1/data", auth: bearer(forge(t))})
	checkError(t, rec, http.StatusServiceUnavailable, httpadapter.CodeServiceUnavailable)
}
