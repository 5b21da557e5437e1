package httpadapter_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Tokens and key sets made by hand: standard-library crypto, base64url and
// JSON written here, so that the verifiers (golang-jwt, jwkset) are checked
// against code they do not share.

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64 is unpadded base64url, by hand.
func b64(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 3 {
		k := min(3, len(b)-i)
		var n uint32
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j <= k; j++ {
			sb.WriteByte(b64alphabet[(n>>(18-6*j))&63])
		}
	}
	return sb.String()
}

// handKey is a signing key with its "alg" and "kid".
type handKey struct {
	alg, kid string
	priv     crypto.Signer
}

var (
	handRSAOnce sync.Once
	handRSA     *rsa.PrivateKey
)

// newHandKey makes a key for alg (the RSA key is made once per process:
// generating one is slow).
func newHandKey(t testing.TB, alg, kid string) handKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "PS256":
		handRSAOnce.Do(func() { handRSA, err = rsa.GenerateKey(rand.Reader, 2048) })
		priv = handRSA
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA", "Ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return handKey{alg: alg, kid: kid, priv: priv}
}

// sign returns the signature of input under k's algorithm.
func (k handKey) sign(t testing.TB, input string) []byte {
	t.Helper()
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		var sig []byte
		var err error
		if k.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, p, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, h[:])
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		var digest []byte
		size := 32
		if k.alg == "ES384" {
			h := sha512.Sum384([]byte(input))
			digest, size = h[:], 48
		} else {
			h := sha256.Sum256([]byte(input))
			digest = h[:]
		}
		r, s, err := ecdsa.Sign(rand.Reader, p, digest)
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	case ed25519.PrivateKey:
		return ed25519.Sign(p, []byte(input))
	}
	t.Fatalf("cannot sign with %T", k.priv)
	return nil
}

// token signs claims (a JSON object written by the caller) with the header
// {"alg":k.alg,"typ":"JWT","kid":k.kid}.
func (k handKey) token(t testing.TB, claims string) string {
	return k.tokenWithHeader(t, fmt.Sprintf(`{"alg":%q,"typ":"JWT","kid":%q}`, k.alg, k.kid), claims)
}

// tokenWithHeader signs header and claims as given.
func (k handKey) tokenWithHeader(t testing.TB, header, claims string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(claims))
	return input + "." + b64(k.sign(t, input))
}

// jwk is k's public key as a JWK.
func (k handKey) jwk() string {
	jwkAlg := k.alg
	if jwkAlg == "Ed25519" {
		jwkAlg = "EdDSA" // what providers publish; the token says Ed25519
	}
	head := fmt.Sprintf(`"kid":%q,"use":"sig","alg":%q`, k.kid, jwkAlg)
	switch p := k.priv.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf(`{"kty":"RSA",%s,"n":%q,"e":%q}`, head, b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes()))
	case *ecdsa.PublicKey:
		raw, _ := p.Bytes() // 0x04 || X || Y
		n := (len(raw) - 1) / 2
		crv := map[int]string{32: "P-256", 48: "P-384"}[n]
		return fmt.Sprintf(`{"kty":"EC",%s,"crv":%q,"x":%q,"y":%q}`, head, crv, b64(raw[1:1+n]), b64(raw[1+n:]))
	case ed25519.PublicKey:
		return fmt.Sprintf(`{"kty":"OKP",%s,"crv":"Ed25519","x":%q}`, head, b64(p))
	}
	return ""
}

// claimsJSON is a claims object for acct with the given issuer, audience
// and expiry, plus extra members (each `"name":value`).
func claimsJSON(acct, iss, aud string, exp int64, extra ...string) string {
	s := fmt.Sprintf(`{"sub":%q,"iss":%q,"aud":%q,"exp":%d`, acct, iss, aud, exp)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// jwksServer is a provider's JWKS endpoint whose keys and health the test
// changes while requests flow.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []handKey
	mode    string // "" healthy, "500", "garbage", "huge", "hang"
	fetches atomic.Int64
	hang    chan struct{} // closed by release and at cleanup, releasing hung requests
}

func newJWKSServer(t testing.TB, keys ...handKey) *jwksServer {
	s := &jwksServer{keys: keys, hang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		close(s.hang)
		s.mu.Unlock()
		s.Close()
	})
	return s
}

// release ends the requests hanging now (with an empty answer); later
// ones in mode "hang" hang again.
func (s *jwksServer) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.hang)
	s.hang = make(chan struct{})
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	mode, keys, hang := s.mode, append([]handKey(nil), s.keys...), s.hang
	s.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "upstream exploded", http.StatusInternalServerError)
		return
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`<html>{"keys":[`))
		return
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
		_, _ = w.Write([]byte(`"}`))
		return
	case "hang":
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.jwk()
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"keys":[%s]}`, strings.Join(parts, ","))
}

func (s *jwksServer) set(mode string, keys ...handKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
	if keys != nil {
		s.keys = keys
	}
}
