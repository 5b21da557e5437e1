package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// SessionVerifier checks a session token (anything presented as a bearer
// token that is not an API key, typically a JWT from the host's login) and
// returns the ID of the account it belongs to.
//
// Any error refuses the request with 401 invalid_session; the error itself
// is logged at Debug level and never shown to the client. An implementation
// must not put the token into its errors. It must be safe for concurrent
// use.
type SessionVerifier interface {
	VerifySession(ctx context.Context, token string) (accountID string, err error)
}

// SessionFunc adapts a function to a SessionVerifier.
type SessionFunc func(ctx context.Context, token string) (accountID string, err error)

// VerifySession calls f.
func (f SessionFunc) VerifySession(ctx context.Context, token string) (string, error) {
	return f(ctx, token)
}

// MaxTokenBytes is the longest bearer token accepted. An API key is 57
// bytes; a longer session token is refused (401) before it reaches the
// SessionVerifier.
const MaxTokenBytes = 8 << 10

var (
	errNoSessions   = errors.New("httpadapter: no SessionVerifier configured")
	errEmptyAccount = errors.New("httpadapter: SessionVerifier returned an empty account ID")
	errTokenSyntax  = errors.New("httpadapter: bearer token is not RFC 6750 b64token syntax or is too long")
)

// bearer extracts the token of the request's Authorization header. It
// accepts exactly one header of the form "Bearer <token>" (the scheme in
// any case, separated by spaces) and a token of RFC 6750 b64token syntax,
// at most MaxTokenBytes long. apiKey reports whether the token is shaped
// like an API key (starts with sk_live_ or sk_test_), which decides how it
// is checked and which error a bad one gets. With sessions false (a data
// route) any other token is refused as invalid_api_key.
func (h *Handler) bearer(r *http.Request, sessions bool) (token string, apiKey bool, e *Error) {
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return "", false, errMissingCredentials(challengeBare)
	case 1:
	default:
		// Two credentials are ambiguous: pick neither.
		return "", false, errMissingCredentials(challengeInvalidRequest)
	}
	v := strings.Trim(vals[0], " \t")
	if v == "" {
		return "", false, errMissingCredentials(challengeBare)
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, errMissingCredentials(challengeBare)
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" {
		return "", false, errMissingCredentials(challengeInvalidRequest)
	}
	apiKey = h.isAPIKey(token)
	if !apiKey && !sessions {
		return "", false, errDataRouteNeedsKey()
	}
	if len(token) > MaxTokenBytes || !isB64Token(token) {
		if apiKey {
			return "", true, errInvalidAPIKey(errTokenSyntax)
		}
		return "", false, errInvalidSession(errTokenSyntax)
	}
	return token, apiKey, nil
}

// isAPIKey reports whether token is shaped like an API key of this
// Manager's environment or of the other one. A key of the wrong environment
// is thus refused as an invalid API key rather than handed to the session
// verifier, which should never see an API key.
func (h *Handler) isAPIKey(token string) bool {
	return strings.HasPrefix(token, h.prefix) ||
		strings.HasPrefix(token, "sk_live_") || strings.HasPrefix(token, "sk_test_")
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s) && b64tokenChar[s[i]]; i++ {
	}
	if i == 0 {
		return false
	}
	for ; i < len(s) && s[i] == '='; i++ {
	}
	return i == len(s)
}

var b64tokenChar = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/" {
		t[c] = true
	}
	return t
}()

// session verifies a session token and returns its account ID, counting
// the request against the account's session gate (sessiongate.go) before
// the caller reads the store.
func (h *Handler) session(ctx context.Context, token string) (string, *Error) {
	if h.sessions == nil {
		return "", errInvalidSession(errNoSessions)
	}
	acct, err := h.sessions.VerifySession(ctx, token)
	if err != nil {
		return "", errInvalidSession(err)
	}
	if acct == "" {
		return "", errInvalidSession(errEmptyAccount)
	}
	if e := h.gateSession(acct); e != nil {
		return "", e
	}
	return acct, nil
}
