package httpadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Why github.com/MicahParks/jwkset, and not github.com/lestrrat-go/jwx/v3
// or the whole of github.com/MicahParks/keyfunc/v3 (both were read):
//
//   - jwkset parses and validates JWKs (RSA, EC P-256/384/521, OKP Ed25519)
//     with one dependency (golang.org/x/time), and the verifier keeps
//     golang-jwt, which the static verifier already uses, for signatures and
//     claims: one JWT library in the module, one set of strict rules
//     (jwtstrict.go) in front of it for both verifiers.
//   - jwx/v3 brings its own JWT stack and eight modules (goccy/go-json,
//     segmentio/asm, fastjson, secp256k1, httprc, ...); its base64 decoder
//     is deliberately lenient (standard or URL alphabet, padded or not), so
//     strict decoding would still be ours, and its jwk.Cache refreshes on a
//     schedule but leaves the unknown-kid refresh to the caller.
//   - keyfunc's Keyfunc (the glue between jwkset and golang-jwt) compares a
//     JWK's "alg" to the token's by string equality, refusing an "Ed25519"
//     token against an "EdDSA" key; a token without "kid" is tried against
//     every key; and its unknown-kid refresh waits on a rate.Limiter (up to a
//     minute by default) without looking again when another request's
//     refresh has just brought the key. Its periodic refresh also retries a
//     failed fetch only at the next interval.
//
// So jwkset fetches and parses (jwkset.NewStorageFromHTTP without a refresh
// interval is one bounded fetch), and this file owns the schedule: a
// background refresh, one fetch at a time shared by every waiting request,
// an unknown kid refreshing at most once per MinRefreshInterval, a request
// waiting at most Timeout, the last good set kept on any failure.

// JWKSConfig configures a JWKSVerifier. URL, Issuer and Audience are
// required.
type JWKSConfig struct {
	// URL is the provider's JWKS endpoint, https (http only for a loopback
	// host, or with AllowHTTP).
	URL string

	// Issuer must equal the token's "iss". Required: a JWKS is shared by
	// every tenant or application of a provider, so the issuer pins yours.
	Issuer string

	// Audience must be among the token's "aud". Required, for the same
	// reason: a token minted for another API of the same issuer must not
	// be a session here.
	Audience string

	// Type, if set, must be the token header's "typ" (compared as RFC 7515
	// says): "at+jwt" for RFC 9068 access tokens. Default "": any.
	Type string

	// AccountClaim names the claim holding the account ID, a non-empty
	// string. Default "sub".
	AccountClaim string

	// Leeway is the clock skew allowed on "exp", "nbf" and "iat". Default
	// 30s; negative allows none.
	Leeway time.Duration

	// Clock returns the current time, for the claims and for spacing the
	// unknown-kid refreshes. Default time.Now.
	Clock func() time.Time

	// RefreshInterval is how often the key set is fetched in the
	// background. Default 15 minutes. After a failed fetch the next one
	// comes after MinRefreshInterval.
	RefreshInterval time.Duration

	// MinRefreshInterval is the least time between two fetches caused by
	// tokens with an unknown "kid" (a new signing key), so that forged kids
	// cannot make the verifier hammer the provider. Default 30s.
	MinRefreshInterval time.Duration

	// Timeout bounds how long a request waits for a fetch (an unknown kid)
	// and how long NewJWKSVerifier waits for the first one. Default 2s.
	// Fetches themselves may run up to FetchTimeout in the background.
	Timeout time.Duration

	// FetchTimeout bounds one fetch of the key set. Default 10s.
	FetchTimeout time.Duration

	// HTTPClient fetches the key set. Default: a client with no timeout
	// of its own (FetchTimeout applies). A copy is used: its transport is
	// wrapped to read at most MaxJWKSBytes of an answer, and, unless it
	// has its own CheckRedirect, it never follows https to plain http.
	HTTPClient *http.Client

	// AllowHTTP permits a plain http URL on a non-loopback host (a
	// provider inside the same private network). Default false.
	AllowHTTP bool

	// Logger receives failed fetches (Warn) and key set changes (Info).
	// Default: nothing is logged.
	Logger *slog.Logger
}

// Defaults of JWKSConfig.
const (
	DefaultJWKSRefreshInterval    = 15 * time.Minute
	DefaultJWKSMinRefreshInterval = 30 * time.Second
	DefaultJWKSTimeout            = 2 * time.Second
	DefaultJWKSFetchTimeout       = 10 * time.Second
	// MaxJWKSBytes bounds a key set answer; a provider's is a few KiB.
	MaxJWKSBytes = 1 << 20
)

// ErrUnknownKeyID is wrapped in the error of a token whose "kid" is not in
// the key set, even after a refresh.
var ErrUnknownKeyID = errors.New("httpadapter: token signed with a key not in the JWKS")

// JWKSVerifier is a SessionVerifier for JWTs signed by a login provider
// with keys published at a JWKS URL (Auth0, Clerk, Cognito, Keycloak,
// Supabase, Firebase, ...). It accepts RS256, PS256, ES256, ES384 and
// EdDSA (also named "Ed25519"), picks the key by the token's "kid"
// (required), and applies the strict rules of JWTVerifier plus the
// required issuer and audience. It is safe for concurrent use.
//
// Key rotation: the set is fetched in the background every
// RefreshInterval until the context given to NewJWKSVerifier ends. A token
// with an unknown kid triggers a fetch at once, at most once per
// MinRefreshInterval, and waits for it at most Timeout; a request that
// finds no fetch allowed looks at the set again (another request's fetch
// may have just brought the key). A failed fetch (network, status other
// than 200, garbage, over MaxJWKSBytes) keeps the last good set.
type JWKSVerifier struct {
	url       string
	client    *http.Client
	rules     *jwtRules
	clock     func() time.Time
	minGap    time.Duration
	timeout   time.Duration
	fetchTO   time.Duration
	interval  time.Duration
	log       *slog.Logger
	parentCtx context.Context

	set atomic.Pointer[jwksKeys]

	mu        sync.Mutex
	inflight  *jwksFetch // the running fetch, nil if none
	lastKick  time.Time  // when an unknown kid last started a fetch
	lastFetch bool       // whether the last fetch succeeded

	loopDone chan struct{} // closed when refreshLoop returns (tests wait on it)
}

var _ SessionVerifier = (*JWKSVerifier)(nil)

// jwksKeys is one fetched key set, immutable once published.
type jwksKeys map[string]jwksKey

type jwksKey struct {
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	alg string // the JWK's "alg", "" when absent
}

// jwksFetch is one fetch that requests may wait for.
type jwksFetch struct {
	done chan struct{}
	err  error
}

// NewJWKSVerifier returns a verifier for cfg. It fetches the key set once,
// waiting at most cfg.Timeout (a provider that is down at start is not an
// error: the verifier retries in the background and on the first token),
// and refreshes it in the background until ctx ends. It returns an error
// only for an incomplete or invalid cfg.
func NewJWKSVerifier(ctx context.Context, cfg JWKSConfig) (*JWKSVerifier, error) {
	if err := checkJWKSConfig(cfg); err != nil {
		return nil, err
	}
	v := &JWKSVerifier{
		url:       cfg.URL,
		rules:     newJWTRules(cfg.Leeway, cfg.Clock, cfg.Issuer, cfg.Audience, cfg.AccountClaim, cfg.Type),
		clock:     cfg.Clock,
		minGap:    orDefault(cfg.MinRefreshInterval, DefaultJWKSMinRefreshInterval),
		timeout:   orDefault(cfg.Timeout, DefaultJWKSTimeout),
		fetchTO:   orDefault(cfg.FetchTimeout, DefaultJWKSFetchTimeout),
		interval:  orDefault(cfg.RefreshInterval, DefaultJWKSRefreshInterval),
		log:       cfg.Logger,
		parentCtx: ctx,
		loopDone:  make(chan struct{}),
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.client = limitClient(cfg.HTTPClient)
	v.set.Store(&jwksKeys{})

	first := v.startFetch()
	wait, cancel := context.WithTimeout(ctx, v.timeout)
	select {
	case <-first.done:
	case <-wait.Done():
	}
	cancel()
	go v.refreshLoop(ctx)
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func checkJWKSConfig(cfg JWKSConfig) error {
	var missing []string
	if cfg.URL == "" {
		missing = append(missing, "URL")
	}
	if cfg.Issuer == "" {
		missing = append(missing, "Issuer")
	}
	if cfg.Audience == "" {
		missing = append(missing, "Audience")
	}
	if len(missing) > 0 {
		return fmt.Errorf("httpadapter: JWKSConfig needs %s", strings.Join(missing, ", "))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("httpadapter: JWKSConfig.URL %q is not an http(s) URL", cfg.URL)
	}
	if u.Scheme == "http" && !cfg.AllowHTTP && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("httpadapter: JWKSConfig.URL %q: keys fetched over plain http can be swapped on the way; use https (or set AllowHTTP)", cfg.URL)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// VerifySession implements SessionVerifier.
func (v *JWKSVerifier) VerifySession(ctx context.Context, token string) (string, error) {
	if len(token) > MaxTokenBytes {
		return "", ErrSessionTokenTooLong
	}
	p, err := parseJWTStrict(token)
	if err == nil {
		err = v.rules.checkHeader(p.header)
	}
	var acct string
	if err == nil {
		var key any
		if key, err = v.keyFor(ctx, p.header); err == nil {
			acct, err = v.rules.finish(p, key)
		}
	}
	if err != nil {
		if errors.Is(err, ErrSessionNoAccount) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrSessionTokenInvalid, err)
	}
	return acct, nil
}

// keyFor returns the key of h.kid, fetching the set again when the kid is
// unknown (see JWKSVerifier).
func (v *JWKSVerifier) keyFor(ctx context.Context, h jwtHeader) (any, error) {
	if h.alg == "HS256" || jwtMethods[h.alg] == nil {
		// A public key set never verifies an HMAC: refusing it here
		// also keeps a forged alg from costing a fetch.
		return nil, errJWTAlgorithm
	}
	if h.kid == "" {
		return nil, errors.New(`token header has no "kid"`)
	}
	k, ok := (*v.set.Load())[h.kid]
	if !ok {
		v.awaitFetch(ctx)
		if k, ok = (*v.set.Load())[h.kid]; !ok {
			return nil, ErrUnknownKeyID
		}
	}
	if k.alg != "" && !sameAlg(h.alg, k.alg) {
		return nil, fmt.Errorf("%w: the key is for %s", errJWTAlgorithm, k.alg)
	}
	return k.key, nil
}
