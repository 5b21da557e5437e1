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

	b.Run("floor=ecdsa.Verify", func(b *testing.B) {
		i := strings.LastIndexByte(tok, '.')
		input := tok[:i]
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		pub := k.priv.Public().(*ecdsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256([]byte(input))
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(pub, h[:], r, s) {
				b.Fatal("bad signature")
			}
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
}
