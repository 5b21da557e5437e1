package httpadapter

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures a JWTVerifier. Exactly one of Secret and PublicKey
// must be set; the algorithm follows from it and is the only one accepted.
type JWTConfig struct {
	// Algorithm is "HS256", "EdDSA", "RS256" or "ES256". It may be left
	// empty: a Secret means HS256, an ed25519.PublicKey EdDSA, an
	// *rsa.PublicKey RS256 and an *ecdsa.PublicKey ES256. Tokens signed
	// with any other algorithm, "none" included, are refused.
	Algorithm string

	// Secret is the HS256 key, at least 32 bytes.
	Secret []byte

	// PublicKey verifies EdDSA (ed25519.PublicKey), RS256 (*rsa.PublicKey
	// of at least 2048 bits) or ES256 (*ecdsa.PublicKey on P-256) tokens.
	// jwt.ParseRSAPublicKeyFromPEM and friends read PEM files.
	PublicKey crypto.PublicKey

	// Issuer, if set, must equal the token's "iss".
	Issuer string

	// Audience, if set, must be among the token's "aud".
	Audience string

	// AccountClaim names the claim holding the account ID, a non-empty
	// string. Default "sub".
	AccountClaim string

	// Leeway is the clock skew allowed when checking "exp", "nbf" and
	// "iat". Default 30s; a negative value allows none.
	Leeway time.Duration

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
}

// DefaultJWTLeeway is the default of JWTConfig.Leeway.
const DefaultJWTLeeway = 30 * time.Second

// JWTVerifier is a SessionVerifier for JWTs: signed with one pinned
// algorithm, with a required "exp" in the future, "nbf" and "iat" (when
// present) not in the future, each within the leeway, and the configured
// issuer and audience. It returns the account claim ("sub" by default). It
// is safe for concurrent use.
type JWTVerifier struct {
	parser *jwt.Parser
	alg    string
	key    any
	claim  string
}

var _ SessionVerifier = (*JWTVerifier)(nil)

// NewJWTVerifier returns a verifier for cfg, or an error if cfg is
// incomplete or its key too weak for its algorithm.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	alg, key, err := jwtKey(cfg)
	if err != nil {
		return nil, err
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultJWTLeeway
	case leeway < 0:
		leeway = 0
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Clock != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Clock))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	claim := cfg.AccountClaim
	if claim == "" {
		claim = "sub"
	}
	return &JWTVerifier{parser: jwt.NewParser(opts...), alg: alg, key: key, claim: claim}, nil
}

// jwtKey checks cfg's algorithm and key and returns them.
func jwtKey(cfg JWTConfig) (alg string, key any, err error) {
	if (cfg.Secret != nil) == (cfg.PublicKey != nil) {
		return "", nil, errors.New("httpadapter: JWTConfig needs exactly one of Secret and PublicKey")
	}
	if cfg.Secret != nil {
		alg, key = "HS256", append([]byte(nil), cfg.Secret...)
		if len(cfg.Secret) < 32 {
			return "", nil, errors.New("httpadapter: JWTConfig.Secret must be at least 32 bytes for HS256")
		}
	} else {
		switch k := cfg.PublicKey.(type) {
		case ed25519.PublicKey:
			alg, key = "EdDSA", k
			if len(k) != ed25519.PublicKeySize {
				return "", nil, errors.New("httpadapter: JWTConfig.PublicKey is not a valid Ed25519 key")
			}
		case *rsa.PublicKey:
			alg, key = "RS256", k
			if k == nil || k.N == nil || k.N.BitLen() < 2048 {
				return "", nil, errors.New("httpadapter: JWTConfig.PublicKey: RS256 needs an RSA key of at least 2048 bits")
			}
		case *ecdsa.PublicKey:
			alg, key = "ES256", k
			if k == nil || k.Curve != elliptic.P256() {
				return "", nil, errors.New("httpadapter: JWTConfig.PublicKey: ES256 needs a P-256 key")
			}
		default:
			return "", nil, fmt.Errorf("httpadapter: JWTConfig.PublicKey of type %T is not supported "+
				"(want ed25519.PublicKey, *rsa.PublicKey or *ecdsa.PublicKey)", cfg.PublicKey)
		}
	}
	if cfg.Algorithm != "" && cfg.Algorithm != alg {
		return "", nil, fmt.Errorf("httpadapter: JWTConfig.Algorithm %q does not match the key, which is for %s", cfg.Algorithm, alg)
	}
	return alg, key, nil
}

// Errors of VerifySession, wrapped with the JWT library's reason. None of
// them contains the token.
var (
	ErrSessionTokenTooLong = errors.New("httpadapter: session token too long")
	ErrSessionTokenInvalid = errors.New("httpadapter: session token invalid")
	ErrSessionNoAccount    = errors.New("httpadapter: session token has no account claim")
)

// VerifySession implements SessionVerifier.
func (v *JWTVerifier) VerifySession(_ context.Context, token string) (string, error) {
	if len(token) > MaxTokenBytes {
		return "", ErrSessionTokenTooLong
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFunc); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSessionTokenInvalid, err)
	}
	acct, ok := claims[v.claim].(string)
	if !ok || acct == "" {
		return "", fmt.Errorf("%w %q", ErrSessionNoAccount, v.claim)
	}
	return acct, nil
}

func (v *JWTVerifier) keyFunc(t *jwt.Token) (any, error) {
	// WithValidMethods has already refused other algorithms; this is a
	// second lock on the same door.
	if t.Method == nil || t.Method.Alg() != v.alg {
		return nil, errors.New("unexpected signing algorithm")
	}
	return v.key, nil
}
