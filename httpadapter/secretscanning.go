package httpadapter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keys"
)

// Limits of one secret-scanning report.
const (
	// SecretScanningMaxBody is the largest report body accepted; a longer
	// one is refused with 413 request_too_large.
	SecretScanningMaxBody = 1 << 20
	// SecretScanningMaxTokens is the most tokens one report may hold; more
	// is 400 invalid_request.
	SecretScanningMaxTokens = 1000
)

// Defaults of SecretScanningOptions.
const (
	DefaultKeysRefetchInterval = time.Minute
	DefaultKeysTTL             = 24 * time.Hour
	defaultKeysFetchTimeout    = 10 * time.Second
)

// CodeInvalidSignature is the code of a 401 from the secret-scanning
// endpoint: a missing, malformed or wrong GitHub signature.
const CodeInvalidSignature = "invalid_signature"

// codeBadReport is the code of a report body that is not what GitHub
// sends (the same code as the key-management routes' invalid_request).
const codeBadReport = "invalid_request"

// LeakAction is what SecretScanning does with a live leaked key.
type LeakAction int

const (
	// Revoke revokes every live leaked key (a leaked root takes every key
	// of its account along) and then reports it to OnLeak. The default.
	Revoke LeakAction = iota
	// Report only reports live leaked keys to OnLeak and the log; the
	// host decides what to do.
	Report
)

// LeakedKey is what OnLeak learns about one live key found in a report.
// It never holds the token.
type LeakedKey struct {
	// Key is the leaked key as it is after the report was handled.
	Key keys.Key
	// Revoked is true when this report revoked the key (Action Revoke).
	Revoked bool
	// AlsoRevoked lists, for a leaked root key, the other keys of its
	// account that this report revoked with it.
	AlsoRevoked []keys.Key
	// Type, URL and Source are as GitHub sent them: the token type name
	// registered with GitHub, the public URL of the match (may be empty)
	// and where it was found (content, commit, issue_comment, npm, ...).
	Type, URL, Source string
	// TokenHash is the hex SHA-256 of the token, as in the answer to
	// GitHub, so the host can match GitHub's later questions to it.
	TokenHash string
}

// SecretScanningOptions configure NewSecretScanning. Every field is
// optional.
type SecretScanningOptions struct {
	// PublicKeysURL serves the keys that sign reports, as GitHub's
	// {"public_keys":[{"key_identifier","key","is_current"}]} with PEM
	// ECDSA P-256 keys. It must be https; plain http is accepted for a
	// loopback host only (tests). Default: GitHubPublicKeysURL.
	PublicKeysURL string

	// Action is what happens to a live leaked key. Default: Revoke.
	Action LeakAction

	// OnLeak, if set, is called once per live key of a report, after the
	// key was revoked (Action Revoke) or found (Action Report), so that the
	// host can tell its customer. It runs before the answer to GitHub, so it
	// should be quick (GitHub waits at most 30 seconds for the whole
	// report); hand slow work to a goroutine. A key already revoked before
	// the report is not reported again, so a repeated report calls nothing.
	OnLeak func(ctx context.Context, l LeakedKey)

	// HTTPClient fetches the public keys; give it a transport that adds a
	// GitHub token if the unauthenticated rate limit is a concern.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client

	// RefetchInterval is the least time between two fetches of the public
	// keys caused by a report signed with an unknown key identifier (GitHub
	// rotated its key). Default: DefaultKeysRefetchInterval (1 minute).
	RefetchInterval time.Duration

	// KeysTTL is how long a fetched key list is used before the next report
	// fetches it again (a failed fetch keeps the old list). Default:
	// DefaultKeysTTL (24 hours).
	KeysTTL time.Duration

	// Now is the clock of the key cache. Default: time.Now.
	Now func() time.Time

	// Logger receives every leak (Warn: key ID, account, URL, source,
	// never the token), failures to fetch the keys and store failures
	// (Error), and refused reports (Debug). Default: nothing is logged.
	Logger *slog.Logger
}

// SecretScanning is an http.Handler for GitHub's secret-scanning partner
// program. GitHub POSTs the tokens of this library's format that it finds
// in public repositories, gists, issues and npm packages:
//
//	[{"token":"sk_live_…","type":"keys_api_key","url":"https://github.com/…","source":"content"}]
//
// signed with ECDSA P-256 over the SHA-256 of the raw body, the key named
// by the GITHUB-PUBLIC-KEY-IDENTIFIER header and the base64 ASN.1 DER
// signature in GITHUB-PUBLIC-KEY-SIGNATURE. A verified report is answered
// with one entry per token, in order:
//
//	[{"token_hash":"<hex SHA-256 of the token>","token_type":"keys_api_key","label":"true_positive"}]
//
// true_positive for a token whose key exists (revoked by this report or
// before), false_positive otherwise. Tokens of the wrong shape or checksum
// never reach the store. Refusals: a method other than POST is 405; a
// missing or wrong signature is 401 invalid_signature and changes nothing;
// a body over SecretScanningMaxBody is 413; a body that is not a JSON array
// of reports, or one with more than SecretScanningMaxTokens, is 400
// invalid_request; the public keys unavailable is 503; a store failure is
// 500. It is safe for concurrent use.
type SecretScanning struct {
	m      *keys.Manager
	action LeakAction
	onLeak func(context.Context, LeakedKey)
	log    *slog.Logger
	keys   *publicKeys
}

// NewSecretScanning returns the secret-scanning handler over m. It refuses
// a nil Manager, an unknown Action and a PublicKeysURL that is not https
// (or http to loopback). It fetches nothing until the first report.
func NewSecretScanning(m *keys.Manager, opts SecretScanningOptions) (*SecretScanning, error) {
	if m == nil {
		return nil, errors.New("httpadapter: NewSecretScanning with a nil *keys.Manager")
	}
	if opts.Action != Revoke && opts.Action != Report {
		return nil, errors.New("httpadapter: SecretScanningOptions.Action must be Revoke or Report")
	}
	if opts.PublicKeysURL == "" {
		opts.PublicKeysURL = GitHubPublicKeysURL
	}
	if err := checkKeysURL(opts.PublicKeysURL); err != nil {
		return nil, err
	}
	if opts.RefetchInterval < 0 || opts.KeysTTL < 0 {
		return nil, errors.New("httpadapter: SecretScanningOptions intervals must not be negative")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: defaultKeysFetchTimeout}
	}
	if opts.RefetchInterval == 0 {
		opts.RefetchInterval = DefaultKeysRefetchInterval
	}
	if opts.KeysTTL == 0 {
		opts.KeysTTL = DefaultKeysTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &SecretScanning{
		m: m, action: opts.Action, onLeak: opts.OnLeak, log: opts.Logger,
		keys: &publicKeys{url: opts.PublicKeysURL, client: opts.HTTPClient, now: opts.Now,
			refetch: opts.RefetchInterval, ttl: opts.KeysTTL, log: opts.Logger},
	}, nil
}

// scanReport is one match of a report.
type scanReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// scanAnswer is one entry of the answer.
type scanAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// ServeHTTP implements http.Handler.
func (s *SecretScanning) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "Only POST is allowed here."})
		return
	}
	id := r.Header.Get("Github-Public-Key-Identifier")
	sig := r.Header.Get("Github-Public-Key-Signature")
	if id == "" || sig == "" || len(id) > 256 || len(sig) > 1024 {
		s.fail(w, r, errSignature(nil))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, SecretScanningMaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.fail(w, r, errTooLarge(err))
			return
		}
		s.fail(w, r, &Error{Status: http.StatusBadRequest, Code: codeBadReport,
			Message: "The request body could not be read.", Err: err})
		return
	}
	// The key list is fetched (when it must be) under a context the client
	// cannot cancel: a sender hanging up mid-fetch would otherwise fail the
	// fetch and spend the once-per-interval slot, leaving genuine reports
	// unverifiable. The fetch keeps its own deadline.
	ctx := context.WithoutCancel(r.Context())
	if err := s.keys.verify(ctx, id, sig, body); err != nil {
		if errors.Is(err, errNoPublicKeys) {
			s.fail(w, r, &Error{Status: http.StatusServiceUnavailable, Code: CodeServiceUnavailable,
				Message: "The signing keys cannot be checked right now; retry shortly.", Err: err})
			return
		}
		s.fail(w, r, errSignature(err))
		return
	}
	var reports []scanReport
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '[' {
		s.fail(w, r, badReport("The body must be a JSON array of {token, type, url, source} objects.", nil))
		return
	}
	if err := json.Unmarshal(body, &reports); err != nil {
		s.fail(w, r, badReport("The body must be a JSON array of {token, type, url, source} objects.", err))
		return
	}
	if len(reports) > SecretScanningMaxTokens {
		s.fail(w, r, badReport("A report may hold at most 1000 tokens.", nil))
		return
	}
	tokens := make([]string, len(reports))
	for i := range reports {
		tokens[i] = reports[i].Token
	}
	var rep keys.LeakReport
	if s.action == Revoke {
		rep, err = s.m.RevokeLeaked(ctx, tokens)
	} else {
		rep, err = s.m.FindLeaked(ctx, tokens)
	}
	if err != nil {
		s.fail(w, r, fromKeys(err))
		return
	}
	answer := make([]scanAnswer, len(reports))
	notified := make(map[[sha256.Size]byte]bool)
	for i, l := range rep.Tokens {
		sum := sha256.Sum256([]byte(reports[i].Token))
		answer[i] = scanAnswer{TokenHash: hex.EncodeToString(sum[:]), TokenType: reports[i].Type, Label: "false_positive"}
		if !l.Found {
			continue
		}
		answer[i].Label = "true_positive"
		if notified[sum] || !(l.Revoked || (s.action == Report && l.Live)) {
			continue
		}
		notified[sum] = true
		s.leaked(ctx, LeakedKey{Key: l.Key, Revoked: l.Revoked, AlsoRevoked: alsoRevoked(l.Key, rep.Revoked),
			Type: reports[i].Type, URL: reports[i].URL, Source: reports[i].Source, TokenHash: answer[i].TokenHash})
	}
	out, err := json.Marshal(answer)
	if err != nil {
		s.fail(w, r, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal server error.", Err: err})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// leaked logs one live leaked key and hands it to OnLeak.
func (s *SecretScanning) leaked(ctx context.Context, l LeakedKey) {
	action := "reported"
	if l.Revoked {
		action = "revoked"
	}
	s.log.WarnContext(ctx, "httpadapter: GitHub secret scanning found a live key in public",
		"key", l.Key, "root", l.Key.IsRoot, "action", action, "also_revoked", len(l.AlsoRevoked),
		"url", clip(l.URL, 2048), "source", clip(l.Source, 64), "type", clip(l.Type, 128))
	if s.onLeak != nil {
		s.onLeak(ctx, l)
	}
}

// alsoRevoked returns, for a root key, the other keys of its account in
// revoked.
func alsoRevoked(k keys.Key, revoked []keys.Key) []keys.Key {
	if !k.IsRoot {
		return nil
	}
	var out []keys.Key
	for _, o := range revoked {
		if o.AccountID == k.AccountID && o.ID != k.ID {
			out = append(out, o)
		}
	}
	return out
}

func errSignature(err error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidSignature,
		Message: "The GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE headers do not verify this body.", Err: err}
}

func badReport(msg string, err error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeBadReport, Message: msg, Err: err}
}

// fail logs e (a 5xx at Error level, the rest at Debug) and writes it as
// the package's JSON error body.
func (s *SecretScanning) fail(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "httpadapter: secret-scanning report failed", "status", e.Status, "code", e.Code, "err", e.Err)
	} else {
		s.log.DebugContext(r.Context(), "httpadapter: secret-scanning report refused", "status", e.Status, "code", e.Code, "err", e.Err)
	}
	DefaultErrorHandler(w, r, e)
}
