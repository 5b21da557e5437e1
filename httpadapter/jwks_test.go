package httpadapter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

const (
	testIss = "https://login.example/"
	testAud = "keys-api"
	// testWait is JWKSConfig.Timeout in these tests: how long a request
	// may wait on the provider. Generous, for a loaded machine; the
	// deadline tests tell it from FetchTimeout (10s).
	testWait = 2 * time.Second
)

// newJWKSVerifier returns a verifier over srv on the fake clock, with the
// background refresh out of the way (tests refresh by hand), once its first
// fetch has ended. A hung fetch lasts FetchTimeout (10s), far beyond
// testWait, so a request that waited for it could not pass for one that
// respected its deadline.
func newJWKSVerifier(t testing.TB, srv *jwksServer, clk *fakeClock, mod func(*httpadapter.JWKSConfig)) *httpadapter.JWKSVerifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := httpadapter.JWKSConfig{
		URL: srv.URL, Issuer: testIss, Audience: testAud, Clock: clk.Now,
		RefreshInterval: time.Hour, Timeout: testWait, FetchTimeout: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := httpadapter.NewJWKSVerifier(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	httpadapter.WaitJWKS(v)
	return v
}

// good is a valid claims object for acct at the clock's time.
func good(clk *fakeClock, acct string) string {
	return claimsJSON(acct, testIss, testAud, clk.Now().Add(time.Hour).Unix())
}

func TestJWKSVerifierAlgorithms(t *testing.T) {
	clk := &fakeClock{now: start}
	var ks []handKey
	for _, alg := range []string{"RS256", "PS256", "ES256", "ES384", "EdDSA", "Ed25519"} {
		ks = append(ks, newHandKey(t, alg, "kid-"+alg))
	}
	srv := newJWKSServer(t, ks...)
	v := newJWKSVerifier(t, srv, clk, nil)
	for _, k := range ks {
		t.Run(k.alg, func(t *testing.T) {
			acct, err := v.VerifySession(context.Background(), k.token(t, good(clk, "acct_"+k.alg)))
			if err != nil || acct != "acct_"+k.alg {
				t.Fatalf("got %q, %v", acct, err)
			}
			// The same kid, signed by a key the provider never published.
			forger := newHandKey(t, k.alg, k.kid)
			if k.alg == "RS256" || k.alg == "PS256" {
				return // one RSA key per process: forger == k
			}
			if acct, err := v.VerifySession(context.Background(), forger.token(t, good(clk, "acct_x"))); err == nil {
				t.Fatalf("a forged signature passed as %q", acct)
			}
		})
	}
}

func TestJWKSVerifierRefuses(t *testing.T) {
	clk := &fakeClock{now: start}
	es := newHandKey(t, "ES256", "es")
	es384 := newHandKey(t, "ES384", "es384")
	rs := newHandKey(t, "RS256", "rs")
	ps := newHandKey(t, "PS256", "ps") // the same RSA key, published for PS256 only
	srv := newJWKSServer(t, es, es384, rs, ps)
	v := newJWKSVerifier(t, srv, clk, nil)
	exp := clk.Now().Add(time.Hour).Unix()
	hs := func(header, claims string) string { // an HS256 token; the signature does not matter
		return b64([]byte(header)) + "." + b64([]byte(claims)) + "." + b64(make([]byte, 32))
	}
	tests := map[string]string{
		"wrong issuer":          es.token(t, claimsJSON("a", "https://evil.example/", testAud, exp)),
		"wrong audience":        es.token(t, claimsJSON("a", testIss, "other-api", exp)),
		"no audience":           es.token(t, `{"sub":"a","iss":"`+testIss+`","exp":`+itoa(exp)+`}`),
		"expired":               es.token(t, claimsJSON("a", testIss, testAud, clk.Now().Add(-time.Hour).Unix())),
		"no exp":                es.token(t, `{"sub":"a","iss":"`+testIss+`","aud":"`+testAud+`"}`),
		"no sub":                es.token(t, `{"iss":"`+testIss+`","aud":"`+testAud+`","exp":`+itoa(exp)+`}`),
		"no kid":                es.tokenWithHeader(t, `{"alg":"ES256"}`, good(clk, "a")),
		"kid of another curve":  es.tokenWithHeader(t, `{"alg":"ES256","kid":"es384"}`, good(clk, "a")),
		"alg not the JWK's":     rs.tokenWithHeader(t, `{"alg":"RS256","kid":"ps"}`, good(clk, "a")),
		"HS256 with an RSA kid": hs(`{"alg":"HS256","kid":"rs"}`, good(clk, "a")),
		"none":                  b64([]byte(`{"alg":"none","kid":"es"}`)) + "." + b64([]byte(good(clk, "a"))) + ".",
		"unknown kid":           es.tokenWithHeader(t, `{"alg":"ES256","kid":"nobody"}`, good(clk, "a")),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if acct, err := v.VerifySession(context.Background(), tok); err == nil {
				t.Fatalf("accepted as %q", acct)
			} else if strings.Contains(err.Error(), tok) {
				t.Fatal("the error quotes the token")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Keys rotate while requests flow: a new kid is accepted at once, a
// removed kid is refused after the refresh, and nothing fails while the
// provider is down or answers garbage.
func TestJWKSRotationWhileRequestsFlow(t *testing.T) {
	clk := &fakeClock{now: start}
	k1, k2 := newHandKey(t, "ES256", "k1"), newHandKey(t, "ES256", "k2")
	srv := newJWKSServer(t, k1)
	v := newJWKSVerifier(t, srv, clk, nil)
	tok1, tok2 := k1.token(t, good(clk, "acct_1")), k2.token(t, good(clk, "acct_1"))

	var cur atomic.Pointer[string]
	cur.Store(&tok1)
	var failures, served, epoch atomic.Int64
	const flows = 4
	var done [flows]atomic.Int64 // the epoch each flow's last request began in
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range flows {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := epoch.Load()
				if _, err := v.VerifySession(context.Background(), *cur.Load()); err != nil {
					failures.Add(1)
					t.Errorf("a valid token was refused mid-rotation: %v", err)
				}
				served.Add(1)
				done[i].Store(e)
			}
		})
	}
	// wait lets the flow run through the current state: every flow
	// finishes a request begun after the call (a flow still holding the
	// previous token must not meet the next step's withdrawal of its key).
	wait := func() {
		e := epoch.Add(1)
		for i := range done {
			for done[i].Load() < e {
				time.Sleep(time.Millisecond)
			}
		}
	}

	wait()
	// The provider adds k2 and starts signing with it: accepted at once.
	srv.set("", k1, k2)
	if acct, err := v.VerifySession(context.Background(), tok2); err != nil || acct != "acct_1" {
		t.Fatalf("new kid: got %q, %v", acct, err)
	}
	cur.Store(&tok2)
	wait()

	// k1 is withdrawn: refused after the next refresh.
	srv.set("", k2)
	if err := httpadapter.RefreshJWKS(v); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifySession(context.Background(), tok1); !errors.Is(err, httpadapter.ErrUnknownKeyID) {
		t.Fatalf("removed kid: err = %v, want ErrUnknownKeyID", err)
	}
	wait()

	// The provider fails in every way: the last good set stays.
	for _, mode := range []string{"500", "garbage", "huge"} {
		srv.set(mode)
		if err := httpadapter.RefreshJWKS(v); err == nil {
			t.Errorf("%s: the refresh succeeded", mode)
		}
		wait()
	}

	// The provider hangs during a refresh, and a token with an unknown kid
	// joins that refresh: refused within its deadline, not after the
	// provider's silence (the fetch itself lasts 10s).
	srv.set("hang")
	n := srv.fetches.Load()
	go func() { _ = httpadapter.RefreshJWKS(v) }() // ends when the test's cleanup releases the provider
	for srv.fetches.Load() == n {
		time.Sleep(time.Millisecond)
	}
	clk.Add(httpadapter.DefaultJWKSMinRefreshInterval + time.Second)
	k3 := newHandKey(t, "ES256", "k3")
	began := time.Now()
	_, err := v.VerifySession(context.Background(), k3.token(t, good(clk, "acct_1")))
	if !errors.Is(err, httpadapter.ErrUnknownKeyID) {
		t.Errorf("unknown kid while down: err = %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("unknown kid while down took %v, the deadline is %v", took, testWait)
	}
	wait()
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the rotation", failures.Load(), served.Load())
	}
}

// An unknown kid refreshes at most once per MinRefreshInterval, however
// many requests carry it; requests that miss while a fetch runs join it,
// and those that come just after it look again.
func TestJWKSUnknownKIDRefreshSpacing(t *testing.T) {
	clk := &fakeClock{now: start}
	k1 := newHandKey(t, "ES256", "k1")
	srv := newJWKSServer(t, k1)
	v := newJWKSVerifier(t, srv, clk, nil)
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	ghost := newHandKey(t, "ES256", "ghost").token(t, good(clk, "a"))
	verifyAll := func(tok string, n int) (ok int64) {
		var wg sync.WaitGroup
		var accepted atomic.Int64
		for range n {
			wg.Go(func() {
				if _, err := v.VerifySession(context.Background(), tok); err == nil {
					accepted.Add(1)
				}
			})
		}
		wg.Wait()
		return accepted.Load()
	}
	if got := verifyAll(ghost, 20); got != 0 {
		t.Fatalf("%d forged kids accepted", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("20 requests with an unknown kid made %d fetches, want 1", n-1)
	}
	verifyAll(ghost, 20)
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("a second burst within the interval fetched again (%d fetches)", n)
	}

	// A genuinely new key within the interval waits for it...
	k2 := newHandKey(t, "ES256", "k2")
	srv.set("", k1, k2)
	tok2 := k2.token(t, good(clk, "a"))
	if _, err := v.VerifySession(context.Background(), tok2); err == nil {
		t.Fatal("accepted a kid the verifier has not fetched yet (no fetch was allowed)")
	}
	// ...and after it, one fetch serves a burst of requests.
	clk.Add(httpadapter.DefaultJWKSMinRefreshInterval)
	if got := verifyAll(tok2, 20); got != 20 {
		t.Fatalf("%d of 20 requests with the new kid accepted", got)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// A provider down at start delays nothing beyond the deadline, and the
// verifier recovers on its own when the provider comes back.
func TestJWKSProviderDownAtStart(t *testing.T) {
	clk := &fakeClock{now: start}
	k1 := newHandKey(t, "EdDSA", "k1")
	srv := newJWKSServer(t, k1)
	srv.set("hang")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const timeout = 300 * time.Millisecond
	began := time.Now()
	v, err := httpadapter.NewJWKSVerifier(ctx, httpadapter.JWKSConfig{
		URL: srv.URL, Issuer: testIss, Audience: testAud, Clock: clk.Now,
		RefreshInterval: time.Hour, Timeout: timeout, FetchTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// It waited Timeout (at least: the provider really hung), not the 10s
	// FetchTimeout: the upper bound leaves a loaded machine 4.7s to spare
	// and still tells the two apart.
	if took := time.Since(began); took < timeout || took > 5*time.Second {
		t.Fatalf("NewJWKSVerifier took %v with the provider down, want its Timeout, %v", took, timeout)
	}
	// A request joins the hung first fetch and gives up at its Timeout.
	tok := k1.token(t, good(clk, "acct_1"))
	if _, err := v.VerifySession(context.Background(), tok); err == nil {
		t.Fatal("accepted a token with no key set")
	}
	// The provider comes back (answering the requests it held with
	// nothing: that fetch fails too).
	srv.set("")
	srv.release()
	httpadapter.WaitJWKS(v)
	// A request past MinRefreshInterval fetches again. It waits for that
	// fetch at most Timeout, which a loaded machine may exceed: the
	// requests after it find the set once the fetch ends (they start no
	// fetch of their own within the interval).
	clk.Add(httpadapter.DefaultJWKSMinRefreshInterval)
	deadline := time.Now().Add(10 * time.Second)
	for {
		acct, err := v.VerifySession(context.Background(), tok)
		if err == nil && acct == "acct_1" {
			break
		}
		if !errors.Is(err, httpadapter.ErrUnknownKeyID) || time.Now().After(deadline) {
			t.Fatalf("after recovery: %q, %v", acct, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The background refresh runs on its own and stops with the context.
func TestJWKSBackgroundRefresh(t *testing.T) {
	clk := &fakeClock{now: start}
	k1 := newHandKey(t, "ES256", "k1")
	srv := newJWKSServer(t, k1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := httpadapter.NewJWKSVerifier(ctx, httpadapter.JWKSConfig{
		URL: srv.URL, Issuer: testIss, Audience: testAud, Clock: clk.Now, RefreshInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.fetches.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if srv.fetches.Load() < 4 {
		t.Fatalf("%d fetches: the background refresh does not run", srv.fetches.Load())
	}
	cancel()
	select {
	case <-httpadapter.JWKSLoopDone(v):
	case <-time.After(10 * time.Second):
		t.Fatal("the background refresh still runs 10s after its context ended")
	}
	// A fetch under way ends with the context, but its request may reach
	// the provider after the client gave up: let the count settle (no
	// change for 100ms)...
	httpadapter.WaitJWKS(v)
	n := srv.fetches.Load()
	deadline = time.Now().Add(10 * time.Second)
	for stable := time.Now(); time.Since(stable) < 100*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches and still counting after the context ended", n)
		}
		time.Sleep(5 * time.Millisecond)
		if m := srv.fetches.Load(); m != n {
			n, stable = m, time.Now()
		}
	}
	// ...then nothing fetches any more (a refresh still running every
	// 5ms would add some 40 fetches here).
	time.Sleep(200 * time.Millisecond)
	if m := srv.fetches.Load(); m != n {
		t.Fatalf("%d fetches after the context ended", m-n)
	}
}

func TestNewJWKSVerifierConfig(t *testing.T) {
	srv := newJWKSServer(t)
	ctx := context.Background()
	for name, cfg := range map[string]httpadapter.JWKSConfig{
		"no URL":           {Issuer: testIss, Audience: testAud},
		"no issuer":        {URL: srv.URL, Audience: testAud},
		"no audience":      {URL: srv.URL, Issuer: testIss},
		"not http":         {URL: "ftp://login.example/jwks", Issuer: testIss, Audience: testAud},
		"plain http":       {URL: "http://login.example/jwks", Issuer: testIss, Audience: testAud},
		"not a URL at all": {URL: "jwks.json", Issuer: testIss, Audience: testAud},
	} {
		if _, err := httpadapter.NewJWKSVerifier(ctx, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// End to end through the Handler: a JWKS session reissues; an unknown kid
// while the provider is down is 401 invalid_session within the deadline.
func TestJWKSSessionThroughHandler(t *testing.T) {
	clk := &fakeClock{now: start}
	k1 := newHandKey(t, "RS256", "k1")
	srv := newJWKSServer(t, k1)
	f := newFixture(t, keys.Config{Clock: clk.Now}, httpadapter.Options{})
	f.h = httpadapter.New(f.m, httpadapter.Options{Sessions: newJWKSVerifier(t, srv, clk, nil)})
	f.mux = http.NewServeMux()
	f.mux.Handle("/account/", f.h)
	f.account(t, "acct_1", keys.Pro, true)
	if rec := f.post("/account/key/reissue", k1.token(t, good(clk, "acct_1"))); rec.Code != http.StatusOK {
		t.Fatalf("reissue by a JWKS session: %d %s", rec.Code, rec.Body)
	}
	srv.set("hang")
	clk.Add(httpadapter.DefaultJWKSMinRefreshInterval)
	k2 := newHandKey(t, "ES256", "k2")
	tok := k2.token(t, good(clk, "acct_1"))
	began := time.Now()
	checkError(t, f.get("/account/key", tok), http.StatusUnauthorized, httpadapter.CodeInvalidSession)
	if took := time.Since(began); took > 5*time.Second { // the fetch it started hangs for 10s
		t.Errorf("took %v", took)
	}
}

// A key set is never fetched over plain http after a redirect from https.
func TestJWKSRefusesDowngradeRedirect(t *testing.T) {
	clk := &fakeClock{now: start}
	k1 := newHandKey(t, "ES256", "k1")
	plain := newJWKSServer(t, k1)
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	defer tlsSrv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := httpadapter.NewJWKSVerifier(ctx, httpadapter.JWKSConfig{
		URL: tlsSrv.URL, Issuer: testIss, Audience: testAud, Clock: clk.Now, HTTPClient: tlsSrv.Client(),
		RefreshInterval: time.Hour, Timeout: testWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := httpadapter.RefreshJWKS(v); err == nil || plain.fetches.Load() != 0 {
		t.Fatalf("refresh err = %v after %d plain fetches; want refused before any", err, plain.fetches.Load())
	}
}
