package httpadapter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"
)

// BenchmarkSessionJWT measures verifying an ES256 session token against a
// warm JWKS (parse, key lookup, signature, claims) beside its floor: the
// bare ecdsa.Verify of the same signature, hash included. README reports
// the ratio.
func BenchmarkSessionJWT(b *testing.B) {
	clk := &fakeClock{now: start}
	k := newHandKey(b, "ES256", "k1")
	srv := newJWKSServer(b, k)
	v := newJWKSVerifier(b, srv, clk, nil)
	tok := k.token(b, claimsJSON("acct_1", testIss, testAud, clk.Now().Add(time.Hour).Unix()))
	ctx := context.Background()
	if _, err := v.VerifySession(ctx, tok); err != nil {
		b.Fatal(err)
	}

	i := strings.LastIndexByte(tok, '.')
	input := tok[:i]
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := k.priv.Public().(*ecdsa.PublicKey)
	floor := func() {
		h := sha256.Sum256([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("bad signature")
		}
	}

	b.Run("floor=ecdsa.Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			floor()
		}
	})
	b.Run("JWKSVerifier.ES256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifySession(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Both in turn, timed apart: on a loaded machine the two runs above
	// may see different loads; this ratio compares like with like.
	b.Run("interleaved", func(b *testing.B) {
		var tFloor, tVerify time.Duration
		for b.Loop() {
			t0 := time.Now()
			floor()
			t1 := time.Now()
			if _, err := v.VerifySession(ctx, tok); err != nil {
				b.Fatal(err)
			}
			tFloor += t1.Sub(t0)
			tVerify += time.Since(t1)
		}
		b.ReportMetric(float64(tFloor.Nanoseconds())/float64(b.N), "floor-ns/op")
		b.ReportMetric(float64(tVerify.Nanoseconds())/float64(b.N), "verify-ns/op")
		b.ReportMetric(float64(tVerify)/float64(tFloor), "ratio")
	})
}
