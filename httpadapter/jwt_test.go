package httpadapter_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

var hmacSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// signer is one algorithm with its signing and verifying keys.
type signer struct {
	alg    string
	method jwt.SigningMethod
	sign   any              // private key or secret
	verify crypto.PublicKey // nil for HS256
}

var (
	signersOnce sync.Once
	signersList []signer
)

// signers returns one signer per supported algorithm (RSA key generation
// is slow, so once per process).
func signers(t testing.TB) []signer {
	t.Helper()
	signersOnce.Do(func() {
		edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		signersList = []signer{
			{"HS256", jwt.SigningMethodHS256, hmacSecret, nil},
			{"EdDSA", jwt.SigningMethodEdDSA, edPriv, edPub},
			{"RS256", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey},
			{"ES256", jwt.SigningMethodES256, ecKey, &ecKey.PublicKey},
		}
	})
	return signersList
}

func (s signer) config() httpadapter.JWTConfig {
	if s.verify == nil {
		return httpadapter.JWTConfig{Secret: hmacSecret}
	}
	return httpadapter.JWTConfig{PublicKey: s.verify}
}

func (s signer) token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(s.method, claims).SignedString(s.sign)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// now is the verifiers' clock in these tests.
var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func TestJWTVerifier(t *testing.T) {
	for _, s := range signers(t) {
		t.Run(s.alg, func(t *testing.T) {
			cfg := s.config()
			cfg.Clock = clock
			v, err := httpadapter.NewJWTVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			exp := now.Add(time.Hour).Unix()
			tests := []struct {
				name   string
				claims jwt.MapClaims
				want   string // "" = refused
			}{
				{"valid", jwt.MapClaims{"sub": "acct_1", "exp": exp}, "acct_1"},
				{"valid with nbf and iat", jwt.MapClaims{"sub": "acct_1", "exp": exp, "nbf": now.Unix(), "iat": now.Unix()}, "acct_1"},
				{"expired", jwt.MapClaims{"sub": "acct_1", "exp": now.Add(-time.Minute).Unix()}, ""},
				{"expired within leeway", jwt.MapClaims{"sub": "acct_1", "exp": now.Add(-20 * time.Second).Unix()}, "acct_1"},
				{"no exp", jwt.MapClaims{"sub": "acct_1"}, ""},
				{"exp not a number", jwt.MapClaims{"sub": "acct_1", "exp": "tomorrow"}, ""},
				{"nbf in the future", jwt.MapClaims{"sub": "acct_1", "exp": exp, "nbf": now.Add(time.Minute).Unix()}, ""},
				{"nbf within leeway", jwt.MapClaims{"sub": "acct_1", "exp": exp, "nbf": now.Add(20 * time.Second).Unix()}, "acct_1"},
				{"iat in the future", jwt.MapClaims{"sub": "acct_1", "exp": exp, "iat": now.Add(time.Hour).Unix()}, ""},
				{"no sub", jwt.MapClaims{"exp": exp}, ""},
				{"empty sub", jwt.MapClaims{"sub": "", "exp": exp}, ""},
				{"numeric sub", jwt.MapClaims{"sub": 42, "exp": exp}, ""},
				{"issuer and audience ignored when not configured", jwt.MapClaims{"sub": "a", "exp": exp, "iss": "x", "aud": "y"}, "a"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := v.VerifySession(context.Background(), s.token(t, tt.claims))
					if tt.want == "" {
						if err == nil {
							t.Fatalf("accepted, account %q", got)
						}
						return
					}
					if err != nil || got != tt.want {
						t.Fatalf("got %q, %v; want %q", got, err, tt.want)
					}
				})
			}
		})
	}
}

func TestJWTVerifierRefusesOtherAlgorithms(t *testing.T) {
	all := signers(t)
	exp := now.Add(time.Hour).Unix()
	claims := jwt.MapClaims{"sub": "acct_1", "exp": exp}
	for _, s := range all {
		cfg := s.config()
		cfg.Clock = clock
		v, err := httpadapter.NewJWTVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Tokens of every other algorithm are refused.
		for _, o := range all {
			if o.alg == s.alg {
				continue
			}
			if acct, err := v.VerifySession(context.Background(), o.token(t, claims)); err == nil {
				t.Errorf("%s verifier accepted an %s token (%q)", s.alg, o.alg, acct)
			}
		}
		// alg=none, unsigned.
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifySession(context.Background(), none); err == nil {
			t.Errorf("%s verifier accepted alg none", s.alg)
		}
	}
}

// The classic algorithm confusion: an HS256 token whose HMAC key is the
// verifier's RSA public key.
func TestJWTVerifierAlgorithmConfusion(t *testing.T) {
	var rs signer
	for _, s := range signers(t) {
		if s.alg == "RS256" {
			rs = s
		}
	}
	v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{PublicKey: rs.verify, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	pub := rs.verify.(*rsa.PublicKey)
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "acct_1", "exp": now.Add(time.Hour).Unix()}).
		SignedString(pub.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifySession(context.Background(), forged); err == nil {
		t.Error("accepted an HS256 token keyed with the RSA public key")
	}
}

func TestJWTVerifierClaims(t *testing.T) {
	exp := now.Add(time.Hour).Unix()
	s := signers(t)[0]
	tests := []struct {
		name   string
		cfg    httpadapter.JWTConfig
		claims jwt.MapClaims
		want   string
	}{
		{"issuer matches", httpadapter.JWTConfig{Issuer: "https://login.example"},
			jwt.MapClaims{"sub": "a", "exp": exp, "iss": "https://login.example"}, "a"},
		{"issuer differs", httpadapter.JWTConfig{Issuer: "https://login.example"},
			jwt.MapClaims{"sub": "a", "exp": exp, "iss": "https://evil.example"}, ""},
		{"issuer missing", httpadapter.JWTConfig{Issuer: "https://login.example"},
			jwt.MapClaims{"sub": "a", "exp": exp}, ""},
		{"audience matches", httpadapter.JWTConfig{Audience: "keys"},
			jwt.MapClaims{"sub": "a", "exp": exp, "aud": "keys"}, "a"},
		{"audience in a list", httpadapter.JWTConfig{Audience: "keys"},
			jwt.MapClaims{"sub": "a", "exp": exp, "aud": []string{"other", "keys"}}, "a"},
		{"audience differs", httpadapter.JWTConfig{Audience: "keys"},
			jwt.MapClaims{"sub": "a", "exp": exp, "aud": "other"}, ""},
		{"audience missing", httpadapter.JWTConfig{Audience: "keys"},
			jwt.MapClaims{"sub": "a", "exp": exp}, ""},
		{"custom claim", httpadapter.JWTConfig{AccountClaim: "account_id"},
			jwt.MapClaims{"sub": "user_9", "account_id": "acct_7", "exp": exp}, "acct_7"},
		{"custom claim missing", httpadapter.JWTConfig{AccountClaim: "account_id"},
			jwt.MapClaims{"sub": "user_9", "exp": exp}, ""},
		{"no leeway", httpadapter.JWTConfig{Leeway: -1},
			jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Second).Unix()}, ""},
		{"wider leeway", httpadapter.JWTConfig{Leeway: 5 * time.Minute},
			jwt.MapClaims{"sub": "a", "exp": now.Add(-4 * time.Minute).Unix()}, "a"},
		{"default leeway is 30s", httpadapter.JWTConfig{},
			jwt.MapClaims{"sub": "a", "exp": now.Add(-31 * time.Second).Unix()}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Secret, cfg.Clock = hmacSecret, clock
			v, err := httpadapter.NewJWTVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.VerifySession(context.Background(), s.token(t, tt.claims))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted, account %q", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestJWTVerifierBadTokens(t *testing.T) {
	v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{Secret: hmacSecret, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	good := signers(t)[0].token(t, jwt.MapClaims{"sub": "acct_1", "exp": now.Add(time.Hour).Unix()})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"acct_2","exp":9999999999}`)) + "." + parts[2]
	for name, tok := range map[string]string{
		"empty":           "",
		"garbage":         "not a jwt",
		"two parts":       parts[0] + "." + parts[1],
		"four parts":      good + ".x",
		"tampered claims": tampered,
		"no signature":    parts[0] + "." + parts[1] + ".",
		"bad base64":      "!!!." + parts[1] + "." + parts[2],
		"huge":            strings.Repeat("a", httpadapter.MaxTokenBytes+1),
	} {
		if acct, err := v.VerifySession(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted, account %q", name, acct)
		} else if strings.Contains(err.Error(), good) {
			t.Errorf("%s: the error quotes the token", name)
		}
	}
	if _, err := v.VerifySession(context.Background(), tampered); !errors.Is(err, httpadapter.ErrSessionTokenInvalid) {
		t.Errorf("tampered: error %v is not ErrSessionTokenInvalid", err)
	}
}

func TestNewJWTVerifierConfig(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		cfg  httpadapter.JWTConfig
		ok   bool
	}{
		{"nothing", httpadapter.JWTConfig{}, false},
		{"both", httpadapter.JWTConfig{Secret: hmacSecret, PublicKey: edPub}, false},
		{"short secret", httpadapter.JWTConfig{Secret: []byte("short")}, false},
		{"empty secret", httpadapter.JWTConfig{Secret: []byte{}}, false},
		{"secret", httpadapter.JWTConfig{Secret: hmacSecret}, true},
		{"secret, HS256 named", httpadapter.JWTConfig{Algorithm: "HS256", Secret: hmacSecret}, true},
		{"secret, RS256 named", httpadapter.JWTConfig{Algorithm: "RS256", Secret: hmacSecret}, false},
		{"none named", httpadapter.JWTConfig{Algorithm: "none", Secret: hmacSecret}, false},
		{"ed25519", httpadapter.JWTConfig{PublicKey: edPub}, true},
		{"ed25519 short", httpadapter.JWTConfig{PublicKey: edPub[:16]}, false},
		{"ed25519 private key", httpadapter.JWTConfig{PublicKey: ed25519.PrivateKey(make([]byte, 64))}, false},
		{"RSA 1024", httpadapter.JWTConfig{PublicKey: &rsa1024.PublicKey}, false},
		{"nil RSA", httpadapter.JWTConfig{PublicKey: (*rsa.PublicKey)(nil)}, false},
		{"P-384", httpadapter.JWTConfig{PublicKey: &p384.PublicKey}, false},
		{"nil ECDSA", httpadapter.JWTConfig{PublicKey: (*ecdsa.PublicKey)(nil)}, false},
		{"string key", httpadapter.JWTConfig{PublicKey: "secret"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpadapter.NewJWTVerifier(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// End to end: a JWT session through the Handler.
func TestJWTSessionThroughHandler(t *testing.T) {
	s := signers(t)[1] // EdDSA
	v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{PublicKey: s.verify, Issuer: "login", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, keys.Config{}, httpadapter.Options{Sessions: v})
	f.account(t, "acct_1", keys.Pro, true)
	good := s.token(t, jwt.MapClaims{"sub": "acct_1", "iss": "login", "exp": now.Add(time.Hour).Unix()})
	expired := s.token(t, jwt.MapClaims{"sub": "acct_1", "iss": "login", "exp": now.Add(-time.Hour).Unix()})

	if rec := f.post("/account/key/reissue", good); rec.Code != http.StatusOK {
		t.Fatalf("reissue by JWT: %d %s", rec.Code, rec.Body)
	}
	if rec := f.get("/account/key", good); rec.Code != http.StatusOK {
		t.Fatalf("GET by JWT: %d %s", rec.Code, rec.Body)
	}
	rec := f.get("/account/key", expired)
	checkError(t, rec, http.StatusUnauthorized, httpadapter.CodeInvalidSession)
	if strings.Contains(rec.Body.String(), "expired") && strings.Contains(rec.Body.String(), "token is") {
		t.Errorf("the JWT library's reason leaked: %s", rec.Body)
	}
	if strings.Contains(f.logs.String(), good) || strings.Contains(f.logs.String(), expired) {
		t.Error("a JWT was logged")
	}
	// A JWT on a data route is not an API key.
	checkError(t, f.get("/v1/x", good), http.StatusUnauthorized, httpadapter.CodeInvalidAPIKey)
}
