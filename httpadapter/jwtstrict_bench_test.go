package httpadapter

import (
	"encoding/base64"
	"testing"
	"time"
)

// BenchmarkJWTOverhead is what the verifiers add to the signature check:
// strict reading of header and claims, the header rules, and the claim
// rules. BenchmarkSessionJWT measures the whole beside ecdsa.Verify; on a
// loaded machine this part is the one to look at.
func BenchmarkJWTOverhead(b *testing.B) {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tok := enc([]byte(`{"alg":"ES256","typ":"JWT","kid":"k1"}`)) + "." +
		enc([]byte(`{"sub":"acct_1","iss":"https://login.example/","aud":"keys-api","exp":1772456400,"iat":1772449200}`)) + "." +
		enc(make([]byte, 64))
	rules := newJWTRules(0, func() time.Time { return now }, "https://login.example/", "keys-api", "", "")
	b.ReportAllocs()
	for b.Loop() {
		p, err := parseJWTStrict(tok)
		if err != nil {
			b.Fatal(err)
		}
		if err := rules.checkHeader(p.header); err != nil {
			b.Fatal(err)
		}
		if err := rules.validator.Validate(p.claims); err != nil {
			b.Fatal(err)
		}
	}
}
