package bench_test

import (
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/internal/tokentest"
)

// dataServer returns a data route (RequireKey) over a Manager with the
// default forged-token defence and the wall clock, and a warm valid key.
func dataServer(b *testing.B) (http.Handler, string) {
	m, token := memManager(b)
	mux := http.NewServeMux()
	mux.Handle("/v1/ping", httpadapter.New(m, httpadapter.Options{}).RequireKey(http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"ok":true}`)) })))
	return mux, token
}

// BenchmarkLoopbackValidKey is a data request with a valid warm key over
// loopback TCP, 64 clients: the floor of BenchmarkLoopbackForgedTokens.
func BenchmarkLoopbackValidKey(b *testing.B) {
	h, token := dataServer(b)
	srv, c := loopback(b, h)
	drive(b, c, srv.URL+"/v1/ping", token)
}

// BenchmarkLoopbackForgedTokens is the same request with well-formed
// forged tokens (valid checksum, no key, no tag), 65,536 distinct ones in
// turn so that most miss the negative cache: each is answered 401 within
// the lookup budget (100/s) or 503 past it, without a store read.
func BenchmarkLoopbackForgedTokens(b *testing.B) {
	h, _ := dataServer(b)
	srv, c := loopback(b, h)
	reqs := make([]*http.Request, 1<<16)
	for i := range reqs {
		r, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/ping", nil)
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+tokentest.Forged())
		reqs[i] = r
	}
	var next atomic.Uint64
	b.SetParallelism(max(1, loopbackClients/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Do(reqs[next.Add(1)&(1<<16-1)])
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusServiceUnavailable {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkLoopbackForgedPaired runs both at once on one server: half of
// the 64 clients send the valid key, half forged tokens, and x-valid is
// how many forged requests were served per valid one in the same time
// (the throughput ratio, steadier than two runs apart on a loaded machine).
func BenchmarkLoopbackForgedPaired(b *testing.B) {
	h, token := dataServer(b)
	srv, c := loopback(b, h)
	valid, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/ping", nil)
	if err != nil {
		b.Fatal(err)
	}
	valid.Header.Set("Authorization", "Bearer "+token)
	forged := make([]*http.Request, 1<<16)
	for i := range forged {
		forged[i], _ = http.NewRequest(http.MethodGet, srv.URL+"/v1/ping", nil)
		forged[i].Header.Set("Authorization", "Bearer "+tokentest.Forged())
	}
	var next, clients, nValid, nForged atomic.Uint64
	b.SetParallelism(max(1, loopbackClients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		isForged := clients.Add(1)%2 == 0
		for pb.Next() {
			r := valid
			if isForged {
				r = forged[next.Add(1)&(1<<16-1)]
			}
			resp, err := c.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if isForged {
				nForged.Add(1)
			} else {
				nValid.Add(1)
			}
		}
	})
	if nValid.Load() > 0 {
		b.ReportMetric(float64(nForged.Load())/float64(nValid.Load()), "x-valid")
	}
}
