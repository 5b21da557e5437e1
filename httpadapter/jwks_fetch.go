package httpadapter

// The JWKSVerifier's schedule: one fetch at a time, shared by the requests
// waiting for it; the background refresh; the bounded fetch itself.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
)

// awaitFetch is called after a miss: it joins the running fetch, or starts
// one if none ran for an unknown kid within minGap, and waits for it at
// most v.timeout. When neither applies it returns at once and the caller
// looks again, which covers a fetch that finished between its miss and
// now.
func (v *JWKSVerifier) awaitFetch(ctx context.Context) {
	v.mu.Lock()
	f := v.inflight
	if f == nil {
		now := v.clock()
		if d := now.Sub(v.lastKick); !v.lastKick.IsZero() && d >= 0 && d < v.minGap {
			v.mu.Unlock()
			return
		}
		v.lastKick = now
		f = v.startFetchLocked()
	}
	v.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	select {
	case <-f.done:
	case <-wait.Done():
	}
}

// startFetch starts a fetch unless one is running, and returns the
// running one.
func (v *JWKSVerifier) startFetch() *jwksFetch {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inflight != nil {
		return v.inflight
	}
	return v.startFetchLocked()
}

func (v *JWKSVerifier) startFetchLocked() *jwksFetch {
	f := &jwksFetch{done: make(chan struct{})}
	v.inflight = f
	go func() {
		// The fetch runs under the verifier's context, not a request's:
		// a request that gives up must not cancel the fetch others wait
		// for.
		ctx, cancel := context.WithTimeout(v.parentCtx, v.fetchTO)
		f.err = v.fetch(ctx)
		cancel()
		v.mu.Lock()
		v.inflight = nil
		v.lastFetch = f.err == nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

// refreshLoop fetches the set every interval (every minGap after a
// failure) until ctx ends.
func (v *JWKSVerifier) refreshLoop(ctx context.Context) {
	defer close(v.loopDone)
	t := time.NewTimer(v.nextRefresh())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f := v.startFetch()
		select {
		case <-ctx.Done():
			return
		case <-f.done:
		}
		t.Reset(v.nextRefresh())
	}
}

func (v *JWKSVerifier) nextRefresh() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lastFetch {
		return v.interval
	}
	return min(v.minGap, v.interval)
}

// fetch reads the key set once and publishes it; on any failure the
// previous set stays.
func (v *JWKSVerifier) fetch(ctx context.Context) error {
	st, err := jwkset.NewStorageFromHTTP(v.url, jwkset.HTTPClientStorageOptions{
		Client:      v.client,
		Ctx:         ctx,
		HTTPTimeout: v.fetchTO,
	})
	if err != nil {
		v.log.WarnContext(ctx, "httpadapter: fetching the JWKS failed; keeping the last good key set",
			"url", v.url, "err", err)
		return err
	}
	jwks, err := st.KeyReadAll(ctx)
	if err != nil {
		return err
	}
	set := make(jwksKeys, len(jwks))
	for _, j := range jwks {
		m := j.Marshal()
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue
		}
		key := j.Key()
		if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			key = pk.Public() // a provider that publishes private keys has other problems
		}
		if _, isHMAC := key.([]byte); isHMAC {
			continue
		}
		set[m.KID] = jwksKey{key: key, alg: string(m.ALG)}
	}
	old := v.set.Swap(&set)
	if len(*old) != len(set) || !sameKIDs(*old, set) {
		v.log.InfoContext(ctx, "httpadapter: JWKS key set changed", "url", v.url, "keys", len(set))
	}
	return nil
}

func sameKIDs(a, b jwksKeys) bool {
	for kid := range a {
		if _, ok := b[kid]; !ok {
			return false
		}
	}
	return true
}

// limitClient returns a copy of c (or of a default client) whose answers
// are cut off after MaxJWKSBytes, so a provider answering garbage cannot
// fill memory.
func limitClient(c *http.Client) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	}
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = limitTransport{base: base}
	if cc.CheckRedirect == nil {
		cc.CheckRedirect = noDowngrade
	}
	return &cc
}

// noDowngrade follows redirects as net/http does, but never from https to
// plain http, where the keys could be swapped on the way.
func noDowngrade(r *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("httpadapter: JWKS: stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && r.URL.Scheme != "https" {
		return errors.New("httpadapter: JWKS: refused a redirect from https to " + r.URL.Scheme)
	}
	return nil
}

type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitBody{rc: resp.Body, left: MaxJWKSBytes}
	return resp, nil
}

var errJWKSTooLarge = fmt.Errorf("httpadapter: JWKS answer over %d bytes", MaxJWKSBytes)

type limitBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitBody) Close() error { return b.rc.Close() }
