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
)

// JWTConfig configures a JWTVerifier. Exactly one of Secret and PublicKey
// must be set; the algorithm follows from it and is the only one accepted.
type JWTConfig struct {
	// Algorithm is "HS256", "EdDSA", "RS256" or "ES256". It may be left
	// empty: a Secret means HS256, an ed25519.PublicKey EdDSA, an
	// *rsa.PublicKey RS256 and an *ecdsa.PublicKey ES256. Tokens signed
	// with any other algorithm, "none" included, are refused, except that
	// an EdDSA verifier also takes "Ed25519" (RFC 9864's name for it).
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

	// Type, if set, must be the token header's "typ", compared as RFC 7515
	// says (case-insensitively, "application/" implied): "at+jwt" for
	// RFC 9068 access tokens. Default "": any "typ" or none.
	Type string

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
// issuer, audience and type. It returns the account claim ("sub" by
// default). Tokens are read strictly (see NewJWKSVerifier, which shares the
// rules). It is safe for concurrent use.
type JWTVerifier struct {
	rules *jwtRules
	alg   string
	key   any
}

var _ SessionVerifier = (*JWTVerifier)(nil)

// NewJWTVerifier returns a verifier for cfg, or an error if cfg is
// incomplete or its key too weak for its algorithm.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	alg, key, err := jwtKey(cfg)
	if err != nil {
		return nil, err
	}
	rules := newJWTRules(cfg.Leeway, cfg.Clock, cfg.Issuer, cfg.Audience, cfg.AccountClaim, cfg.Type)
	return &JWTVerifier{rules: rules, alg: alg, key: key}, nil
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
	p, err := parseJWTStrict(token)
	if err == nil {
		err = v.rules.checkHeader(p.header)
	}
	if err == nil && !sameAlg(p.header.alg, v.alg) {
		err = errJWTAlgorithm
	}
	var acct string
	if err == nil {
		acct, err = v.rules.finish(p, v.key)
	}
	if err != nil {
		if errors.Is(err, ErrSessionNoAccount) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrSessionTokenInvalid, err)
	}
	return acct, nil
}
