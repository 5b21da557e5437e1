package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// benchTier's rate is high enough that a benchmark never hits it.
const benchTier keys.Tier = "bench"

// benchSetup returns a Handler over a warm root key on the wall clock, and
// the key's token.
func benchSetup(b *testing.B) (*httpadapter.Handler, string) {
	b.Helper()
	m, err := keys.New(memstore.New(), keys.Config{
		Tiers: map[keys.Tier]keys.Limits{benchTier: {RequestsPerMinute: 1 << 30, RequestsPerMonth: 1 << 62}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: benchTier, EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acct_1")
	if err != nil {
		b.Fatal(err)
	}
	return httpadapter.New(m, httpadapter.Options{Sessions: sessionFunc}), iss.Secret
}

func benchServe(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkGetAccountKey is GET /account/key by a warm API key through the
// Handler: parse the header, Authenticate, AllowRate, encode, write.
func BenchmarkGetAccountKey(b *testing.B) {
	h, token := benchSetup(b)
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	benchServe(b, h, r)
}

// BenchmarkGetAccountKeyFloor writes the same JSON bytes and headers from
// a plain handler: what net/http and the recorder cost alone.
func BenchmarkGetAccountKeyFloor(b *testing.B) {
	h, token := benchSetup(b)
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	floor := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	benchServe(b, floor, r)
}

// BenchmarkGetAccountKeyFloorSameHeaders writes the identical response,
// all seven headers included: the recorder copies every header, so this
// separates what the headers cost from what the Handler's work costs.
func BenchmarkGetAccountKeyFloorSameHeaders(b *testing.B) {
	h, token := benchSetup(b)
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body, want := rec.Body.Bytes(), rec.Header().Clone()
	floor := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		for k, v := range want {
			hdr[k] = v
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	benchServe(b, floor, r)
}

// BenchmarkGetAccountKeySession is GET /account/key by a session: the
// verifier, then RootKey (two store reads from the memstore), AllowRate.
func BenchmarkGetAccountKeySession(b *testing.B) {
	h, _ := benchSetup(b)
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Authorization", "Bearer session-acct_1")
	benchServe(b, h, r)
}

// BenchmarkRequireKey is a data request by a warm key through RequireKey
// to a handler that writes nothing.
func BenchmarkRequireKey(b *testing.B) {
	h, token := benchSetup(b)
	mw := h.RequireKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	benchServe(b, mw, r)
}
