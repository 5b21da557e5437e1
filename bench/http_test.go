package bench_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// loopbackClients is how many requests are in flight at once in the
// loopback benchmarks, each on its own keep-alive connection.
const loopbackClients = 64

// loopback serves h on a real TCP port of 127.0.0.1 and returns a client
// that keeps loopbackClients connections alive to it.
func loopback(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	b.Helper()
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConns: loopbackClients, MaxIdleConnsPerHost: loopbackClients, MaxConnsPerHost: loopbackClients}
	b.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

// drive sends GET url with the token from loopbackClients goroutines and
// reports requests per second.
func drive(b *testing.B, c *http.Client, url, token string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// RunParallel starts parallelism×GOMAXPROCS goroutines.
	b.SetParallelism(max(1, loopbackClients/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// memManager returns a Manager over memstore with the bench tier, closed
// when b ends, and the root key it issued to its one account.
func memManager(b *testing.B) (*keys.Manager, string) {
	b.Helper()
	m, err := keys.New(memstore.New(), keys.Config{Tiers: benchTiers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_bench", Tier: "bench", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acct_bench")
	if err != nil {
		b.Fatal(err)
	}
	return m, iss.Secret
}

// accountKeyServer returns the adapter's handler over a Manager with a warm
// root key, and the key.
func accountKeyServer(b *testing.B) (http.Handler, string) {
	m, token := memManager(b)
	mux := http.NewServeMux()
	mux.Handle("/account/", httpadapter.New(m, httpadapter.Options{}))
	return mux, token
}

// BenchmarkLoopbackGetAccountKey is GET /account/key end to end over
// loopback TCP: client, kernel, net/http server, the adapter, the Manager.
func BenchmarkLoopbackGetAccountKey(b *testing.B) {
	h, token := accountKeyServer(b)
	srv, c := loopback(b, h)
	drive(b, c, srv.URL+"/account/key", token)
}

// BenchmarkLoopbackGetAccountKeyFloor is the same round trip to a plain
// handler that writes the bytes the adapter answered, with its headers:
// what HTTP itself costs here.
func BenchmarkLoopbackGetAccountKeyFloor(b *testing.B) {
	h, token := accountKeyServer(b)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	body, header := rec.Body.Bytes(), rec.Header().Clone()
	floor := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Write(body)
	})
	srv, c := loopback(b, floor)
	drive(b, c, srv.URL+"/account/key", token)
}
