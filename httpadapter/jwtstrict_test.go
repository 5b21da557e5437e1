package httpadapter_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/keyward/keys/httpadapter"
)

// The leniencies found with real clients (issue 16), each refused (or, for
// "Ed25519", accepted) by both verifiers. Every case here failed before.
func TestJWTStrictness(t *testing.T) {
	clk := &fakeClock{now: start}
	ed := newHandKey(t, "Ed25519", "ed")
	edDSA := handKey{alg: "EdDSA", kid: "ed", priv: ed.priv}
	srv := newJWKSServer(t, ed)
	verifiers := map[string]func(typ string) httpadapter.SessionVerifier{
		"static": func(typ string) httpadapter.SessionVerifier {
			v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{
				PublicKey: ed.priv.Public().(ed25519.PublicKey), Issuer: testIss, Audience: testAud, Clock: clk.Now, Type: typ,
			})
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		"jwks": func(typ string) httpadapter.SessionVerifier {
			return newJWKSVerifier(t, srv, clk, func(c *httpadapter.JWKSConfig) { c.Type = typ })
		},
	}
	claims := good(clk, "acct_1")
	canonical := edDSA.token(t, claims)
	// The signature's last character carries 2 bits of the 64th byte and
	// 4 zero bits; setting one of those gives another encoding of the
	// same bytes, which a lenient decoder accepts.
	last := strings.IndexByte(b64alphabet, canonical[len(canonical)-1])
	nonCanonical := canonical[:len(canonical)-1] + string(b64alphabet[last|1])
	withNewline := canonical[:len(canonical)-10] + "\n" + canonical[len(canonical)-10:]
	header := `{"alg":"EdDSA","kid":"ed"`
	tests := []struct {
		name, typ, token string
		ok               bool
	}{
		{"canonical EdDSA", "", canonical, true},
		{"alg Ed25519 (RFC 9864)", "", ed.token(t, claims), true},
		{"non-canonical base64 signature", "", nonCanonical, false},
		{"newline inside the signature", "", withNewline, false},
		{"padded signature", "", canonical + "==", false},
		{"unknown crit", "", edDSA.tokenWithHeader(t, header+`,"crit":["urn:example:x"],"urn:example:x":1}`, claims), false},
		{"crit naming a known member", "", edDSA.tokenWithHeader(t, header+`,"crit":["kid"]}`, claims), false},
		{"nbf 1e300", "", edDSA.token(t, claimsJSON("acct_1", testIss, testAud, clk.Now().Add(1e9).Unix(), `"nbf":1e300`)), false},
		{"iat 1e300", "", edDSA.token(t, claimsJSON("acct_1", testIss, testAud, clk.Now().Add(1e9).Unix(), `"iat":1e300`)), false},
		{"exp 1e300", "", edDSA.token(t, `{"sub":"acct_1","iss":"`+testIss+`","aud":"`+testAud+`","exp":1e300}`), false},
		{"nbf negative", "", edDSA.token(t, claimsJSON("acct_1", testIss, testAud, clk.Now().Add(1e9).Unix(), `"nbf":-1e300`)), false},
		{"exp as a string", "", edDSA.token(t, `{"sub":"acct_1","iss":"`+testIss+`","aud":"`+testAud+`","exp":"9999999999"}`), false},
		{"alg not a string", "", edDSA.tokenWithHeader(t, `{"alg":["EdDSA"],"kid":"ed"}`, claims), false},
		{"claims not an object", "", edDSA.tokenWithHeader(t, header+`}`, `null`), false},
		{"typ required, at+jwt", "at+jwt", edDSA.tokenWithHeader(t, header+`,"typ":"at+jwt"}`, claims), true},
		{"typ required, application/AT+JWT", "at+jwt", edDSA.tokenWithHeader(t, header+`,"typ":"application/AT+JWT"}`, claims), true},
		{"typ required, JWT", "at+jwt", edDSA.tokenWithHeader(t, header+`,"typ":"JWT"}`, claims), false},
		{"typ required, absent", "at+jwt", edDSA.tokenWithHeader(t, header+`}`, claims), false},
	}
	for vname, mk := range verifiers {
		byTyp := map[string]httpadapter.SessionVerifier{}
		for _, tt := range tests {
			t.Run(vname+"/"+tt.name, func(t *testing.T) {
				v := byTyp[tt.typ]
				if v == nil {
					v = mk(tt.typ)
					byTyp[tt.typ] = v
				}
				acct, err := v.VerifySession(context.Background(), tt.token)
				switch {
				case tt.ok && (err != nil || acct != "acct_1"):
					t.Fatalf("refused: %q, %v", acct, err)
				case !tt.ok && err == nil:
					t.Fatalf("accepted as %q", acct)
				}
			})
		}
	}
	if nonCanonical == canonical {
		t.Fatal("the non-canonical token is the canonical one")
	}
}
