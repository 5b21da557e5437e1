package httpadapter

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// This file is the JWT pipeline both verifiers share. It reads the compact
// serialisation itself, strictly, and leaves the cryptography and the claim
// rules to github.com/golang-jwt/jwt/v5 (a SigningMethod's Verify and a
// Validator). It does not use jwt.Parser, because the parser (v5.3) decodes
// base64 leniently unless told otherwise, ignores "crit", converts
// "exp"/"nbf"/"iat" from float64 to int64 without a range check (1e300
// wraps around on amd64 and passes), and finds the signing method by "alg"
// in a process-wide registry in which "Ed25519" (RFC 9864) is absent;
// registering it there would change every other user of the library in the
// process.

// maxJWTTime bounds "exp", "nbf" and "iat": 9999-12-31T23:59:59Z. Past it
// the conversion to time.Time is where the library overflows.
const maxJWTTime = 253402300799

// jwtMethods maps the "alg" values the verifiers know to the library's
// signing methods. "Ed25519" is RFC 9864's fully-specified name of EdDSA
// over Ed25519, which jose (node) emits; it verifies like "EdDSA".
var jwtMethods = map[string]jwt.SigningMethod{
	"HS256":   jwt.SigningMethodHS256,
	"RS256":   jwt.SigningMethodRS256,
	"PS256":   jwt.SigningMethodPS256,
	"ES256":   jwt.SigningMethodES256,
	"ES384":   jwt.SigningMethodES384,
	"EdDSA":   jwt.SigningMethodEdDSA,
	"Ed25519": jwt.SigningMethodEdDSA,
}

// Reasons a token is refused before its signature is checked. They are
// wrapped in ErrSessionTokenInvalid and never contain the token.
var (
	errJWTSegments  = errors.New("not three base64url segments")
	errJWTBase64    = errors.New("a segment is not canonical unpadded base64url")
	errJWTHeader    = errors.New("header is not a JSON object with a string alg")
	errJWTCrit      = errors.New(`header has "crit": no extension is understood`)
	errJWTClaims    = errors.New("claims are not a JSON object")
	errJWTTime      = errors.New(`"exp", "nbf" or "iat" is not a number between 0 and year 9999`)
	errJWTType      = errors.New(`header "typ" is not the required type`)
	errJWTAlgorithm = errors.New("algorithm not accepted")
)

// jwtHeader is what the verifiers use of a JOSE header.
type jwtHeader struct {
	alg, kid, typ string
}

// parsedJWT is a token read but not yet verified.
type parsedJWT struct {
	header jwtHeader
	claims jwt.MapClaims
	signed string // header.payload, the signing input
	sig    []byte
}

// parseJWTStrict reads a compact JWS: three segments of canonical unpadded
// base64url (no other byte, no padding, zero trailing bits, so every token
// has exactly one encoding), a header that is a JSON object with a string
// "alg" and no "crit", and claims that are a JSON object whose "exp",
// "nbf" and "iat", when present, are numbers in [0, maxJWTTime].
func parseJWTStrict(token string) (*parsedJWT, error) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errJWTSegments
	}
	c, s, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(s, ".") {
		return nil, errJWTSegments
	}
	hb, err := decodeSegment(h)
	if err != nil {
		return nil, err
	}
	cb, err := decodeSegment(c)
	if err != nil {
		return nil, err
	}
	sig, err := decodeSegment(s)
	if err != nil {
		return nil, err
	}
	p := &parsedJWT{signed: token[:len(h)+1+len(c)], sig: sig}
	if p.header, err = parseJWTHeader(hb); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cb, &p.claims); err != nil || p.claims == nil {
		return nil, errJWTClaims
	}
	for _, name := range [...]string{"exp", "nbf", "iat"} {
		v, ok := p.claims[name]
		if !ok {
			continue
		}
		f, isNum := v.(float64)
		if !isNum || math.IsNaN(f) || f < 0 || f > maxJWTTime {
			return nil, fmt.Errorf("%w (%s)", errJWTTime, name)
		}
	}
	return p, nil
}

// decodeSegment decodes one segment strictly. The explicit alphabet check
// matters: encoding/base64 skips CR and LF even in Strict mode.
func decodeSegment(seg string) ([]byte, error) {
	if seg == "" {
		return nil, errJWTSegments
	}
	for i := 0; i < len(seg); i++ {
		if !base64urlChar[seg[i]] {
			return nil, errJWTBase64
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, errJWTBase64
	}
	return b, nil
}

var base64urlChar = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// parseJWTHeader reads the members of a JOSE header the verifiers use and
// refuses "crit": RFC 7515 4.1.11 requires refusing a token whose critical
// extensions are not understood, and these verifiers understand none.
// Other members (jku, jwk, x5u, ...) are ignored: keys come only from the
// configuration, never from the token.
func parseJWTHeader(b []byte) (jwtHeader, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return jwtHeader{}, errJWTHeader
	}
	if _, ok := m["crit"]; ok {
		return jwtHeader{}, errJWTCrit
	}
	var h jwtHeader
	for name, dst := range map[string]*string{"alg": &h.alg, "kid": &h.kid, "typ": &h.typ} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil || (raw[0] != '"') {
			return jwtHeader{}, errJWTHeader
		}
	}
	if h.alg == "" {
		return jwtHeader{}, errJWTHeader
	}
	return h, nil
}

// normalizeTyp puts a "typ" value in the form RFC 7515 4.1.9 compares:
// case-insensitive, with "application/" implied when absent.
func normalizeTyp(typ string) string {
	typ = strings.ToLower(strings.TrimSpace(typ))
	return strings.TrimPrefix(typ, "application/")
}

// jwtRules are the checks after the signature: the library's Validator
// for exp/nbf/iat/iss/aud, then the account claim.
type jwtRules struct {
	validator *jwt.Validator
	claim     string
	typ       string // normalised required "typ"; "" = any
}

func newJWTRules(leeway time.Duration, clock func() time.Time, issuer, audience, claim, typ string) *jwtRules {
	switch {
	case leeway == 0:
		leeway = DefaultJWTLeeway
	case leeway < 0:
		leeway = 0
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway)}
	if clock != nil {
		opts = append(opts, jwt.WithTimeFunc(clock))
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	if claim == "" {
		claim = "sub"
	}
	return &jwtRules{validator: jwt.NewValidator(opts...), claim: claim, typ: normalizeTyp(typ)}
}

// checkHeader applies the header rules that need no key.
func (r *jwtRules) checkHeader(h jwtHeader) error {
	if r.typ != "" && normalizeTyp(h.typ) != r.typ {
		return errJWTType
	}
	return nil
}

// finish verifies p's signature with key under alg's method, validates the
// claims and returns the account.
func (r *jwtRules) finish(p *parsedJWT, key any) (string, error) {
	method := jwtMethods[p.header.alg]
	if method == nil || !keyFits(p.header.alg, key) {
		return "", errJWTAlgorithm
	}
	if err := method.Verify(p.signed, p.sig, key); err != nil {
		return "", err
	}
	if err := r.validator.Validate(p.claims); err != nil {
		return "", err
	}
	acct, ok := p.claims[r.claim].(string)
	if !ok || acct == "" {
		return "", fmt.Errorf("%w %q", ErrSessionNoAccount, r.claim)
	}
	return acct, nil
}

// keyFits reports whether key is of the kind and strength alg needs, so
// that no key is ever used with an algorithm it was not made for (the
// library checks the Go type; this also checks the curve and the size).
func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case []byte:
		return alg == "HS256" && len(k) >= 32
	case *rsa.PublicKey:
		return (alg == "RS256" || alg == "PS256") && k != nil && k.N != nil && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return k != nil && (alg == "ES256" && k.Curve == elliptic.P256() || alg == "ES384" && k.Curve == elliptic.P384())
	case ed25519.PublicKey:
		return (alg == "EdDSA" || alg == "Ed25519") && len(k) == ed25519.PublicKeySize
	}
	return false
}

// sameAlg reports whether a token's "alg" is the configured or published
// one, "Ed25519" and "EdDSA" being the same algorithm for an Ed25519 key.
func sameAlg(token, want string) bool {
	if token == want {
		return true
	}
	ed := func(a string) bool { return a == "EdDSA" || a == "Ed25519" }
	return ed(token) && ed(want)
}
