package httpadapter

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/keyward/keys"
)

// DefaultMaxBodyBytes is the default of Options.MaxBodyBytes.
const DefaultMaxBodyBytes = 64 << 10

// Options configure a Handler. Every field is optional.
type Options struct {
	// Sessions verifies session tokens: bearer tokens that are not API
	// keys. Nil refuses every session token with 401 invalid_session, so
	// only API keys work. NewJWTVerifier returns a ready one; SessionFunc
	// adapts a function.
	Sessions SessionVerifier

	// BasePath is prepended to the endpoint paths: with "/api" the Handler
	// serves /api/account/key and /api/account/key/reissue. A trailing
	// slash is ignored and a missing leading one added. Default "": mount
	// the Handler with mux.Handle("/account/", h).
	BasePath string

	// ErrorHandler writes error answers. When it is called, the response
	// headers already carry what the protocol needs (WWW-Authenticate on a
	// 401, Allow on a 405, Retry-After on a 429, the X-RateLimit-* headers
	// of an authenticated request, X-Content-Type-Options); it writes the
	// status and the body. Default: DefaultErrorHandler, the JSON body
	// {"error":{"code":…,"message":…}}.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, e *Error)

	// Logger receives failures (at Error level: a store failure, with its
	// error) and refusals (at Debug level). Tokens and the Authorization
	// header are never logged. Default: nothing is logged.
	Logger *slog.Logger

	// SessionFromRequest, if set, finds a session in the request itself
	// (a cookie, typically) for the account endpoints, when the request
	// has no Authorization header (which always wins). It returns the
	// session's account; "" with a nil error means no session (401
	// missing_credentials), an error a bad one (401 invalid_session, the
	// error logged, never shown). A state-changing request authorised this
	// way must pass http.CrossOriginProtection (403 cross_origin_request
	// otherwise), because a browser attaches cookies to requests made by
	// other sites. Default nil: sessions come only as bearer tokens.
	SessionFromRequest func(*http.Request) (accountID string, err error)

	// TrustedOrigins are origins ("https://app.example.com", scheme, host
	// and port only) whose cross-origin requests may change state with a
	// SessionFromRequest session. New panics on a malformed one. Default
	// none: only same-origin requests (and requests from non-browser
	// clients, which send no Origin or Sec-Fetch-Site) pass.
	TrustedOrigins []string

	// MaxBodyBytes bounds the request body of the account endpoints, which
	// is ignored: up to this many bytes are read and discarded (so the
	// connection can be reused), and a longer body is refused with 413
	// request_too_large. A negative value leaves the body unread. Default:
	// DefaultMaxBodyBytes (64 KiB). RequireKey never touches the body.
	// POST /account/key/reissue reads its body (options, see the Handler);
	// with a negative value a reissue that carries a body is refused. The
	// key-management routes that take a body (POST and PATCH
	// /account/keys…) read it the same way.
	MaxBodyBytes int64

	// DisableKeyManagement turns off the key-management routes
	// ({BasePath}/account/keys and below) and the key page's script
	// ({BasePath}/account/ui/), which then answer 404 like any unknown
	// path; {BasePath}/account/usage stays. Default false: they are served.
	DisableKeyManagement bool

	// ClientIP returns the address of the client of r, which a key with
	// AllowedNetworks is checked against on every route. Default: the host
	// of r.RemoteAddr, right for a server that clients reach directly.
	// Behind a reverse proxy, RemoteAddr is the proxy: then return the
	// address the proxy saw, taken from X-Forwarded-For only when
	// RemoteAddr is one of your own proxies, and only the entry that proxy
	// appended (the last one, with one proxy), since a client can put any
	// address in the header itself. An invalid address (the zero
	// netip.Addr) is outside every network.
	ClientIP func(*http.Request) netip.Addr

	// AcceptAPIKeyHeader lets RequireKey routes take the key from an
	// X-API-Key header as well as from Authorization: Bearer. Default
	// false. A request with both is refused (400 invalid_request).
	AcceptAPIKeyHeader bool

	// AcceptBasicAuth lets RequireKey routes take the key as the user name
	// of HTTP Basic authentication (curl -u sk_live_…:), the password
	// ignored. Default false.
	AcceptBasicAuth bool

	// OnAuthenticated, if set, is called with every request whose API key
	// authenticated (RequireKey routes and every /account/ route), before
	// its limits and checks are applied, so that an access log can name
	// the key (k.ID; never log the token). It runs on the request's
	// goroutine and must be quick. Default: nil.
	OnAuthenticated func(r *http.Request, k keys.Key)
}

// Handler serves the account endpoints of a keys.Manager over HTTP:
//
//	GET  {BasePath}/account/key          the caller's key metadata
//	HEAD {BasePath}/account/key          the same, without a body
//	POST {BasePath}/account/key/reissue  a new root key, shown once
//
// and the key-management routes of keyroutes.go (/account/keys…,
// /account/usage).
//
// Any other path gets a JSON 404 not_found and a known path with another
// method a JSON 405 method_not_allowed with an Allow header. Its RequireKey
// method guards the host's own data routes. A Handler is safe for
// concurrent use.
type Handler struct {
	m            *keys.Manager
	sessions     SessionVerifier
	keyPath      string
	reissuePath  string
	uiPrefix     string
	prefix       string
	errorHandler func(http.ResponseWriter, *http.Request, *Error)
	log          *slog.Logger
	maxBody      int64
	reqSession   func(*http.Request) (string, error)
	crossOrigin  *http.CrossOriginProtection
	clientIP     func(*http.Request) netip.Addr
	apiKeyHeader bool
	basicAuth    bool
	onAuth       func(*http.Request, keys.Key)
	gate         sessionGate // per-account count of session requests before any store read
	mgmt         mgmtRoutes
}

// New returns a Handler over m. It panics if m is nil, a programming error
// that would otherwise surface as a panic on the first request.
func New(m *keys.Manager, opts Options) *Handler {
	if m == nil {
		panic("httpadapter: New with a nil *keys.Manager")
	}
	base := strings.TrimRight(opts.BasePath, "/")
	if base != "" && base[0] != '/' {
		base = "/" + base
	}
	h := &Handler{
		m:            m,
		sessions:     opts.Sessions,
		keyPath:      base + "/account/key",
		reissuePath:  base + "/account/key/reissue",
		uiPrefix:     base + "/account/ui/",
		prefix:       m.TokenPrefix(),
		errorHandler: opts.ErrorHandler,
		log:          opts.Logger,
		maxBody:      opts.MaxBodyBytes,
		clientIP:     opts.ClientIP,
		apiKeyHeader: opts.AcceptAPIKeyHeader,
		basicAuth:    opts.AcceptBasicAuth,
		onAuth:       opts.OnAuthenticated,
	}
	if h.clientIP == nil {
		h.clientIP = RemoteAddrIP
	}
	if h.errorHandler == nil {
		h.errorHandler = DefaultErrorHandler
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.setRequestSessions(opts)
	h.mgmt = newMgmtRoutes(base, opts)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	// An escaped slash ("%2F") is part of a segment, not a separator:
	// /account/key%2Freissue is not the reissue endpoint.
	if hasEscapedSlash(r.URL.RawPath) {
		path = ""
	}
	switch path {
	case h.keyPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.fail(w, r, errMethodNotAllowed("GET, HEAD"))
			return
		}
		h.getKey(w, r)
	case h.reissuePath:
		if r.Method != http.MethodPost {
			h.fail(w, r, errMethodNotAllowed("POST"))
			return
		}
		h.reissue(w, r)
	default:
		// DisableKeyManagement turns the key page off with the routes it
		// needs; the audit trail stays.
		if h.serveAudit(w, r, path) || h.serveMgmt(w, r, path) || (!h.mgmt.disabled && h.serveUI(w, r, path)) {
			return
		}
		h.fail(w, r, errNotFound())
	}
}

func hasEscapedSlash(raw string) bool {
	return strings.Contains(raw, "%2F") || strings.Contains(raw, "%2f")
}

// getKey serves GET /account/key: a session sees its account's active root
// key, an API key sees itself.
func (h *Handler) getKey(w http.ResponseWriter, r *http.Request) {
	if e := h.drainBody(w, r); e != nil {
		h.fail(w, r, e)
		return
	}
	cred, e := h.credential(w, r)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	ctx := r.Context()
	var k keys.Key
	if cred.apiKey {
		var err error
		if k, err = h.m.Authenticate(ctx, cred.token); err != nil {
			h.fail(w, r, fromKeys(err))
			return
		}
		h.authenticated(r, &k)
		if e := h.checkNetwork(r, &k); e != nil {
			h.refuseAfterAuth(w, r, &k, e)
			return
		}
	} else {
		acct := cred.account
		var err error
		k, err = h.m.RootKey(ctx, acct)
		if err == nil {
			h.gate.learn(acct, k.Pool)
		}
		if err != nil {
			if errors.Is(err, keys.ErrNoActiveRootKey) {
				// Count the request against the account's rate all the
				// same, so that a session cannot poll without limit and
				// the 404 carries the rate-limit headers.
				if e := h.allowAccountRate(w, r, acct); e != nil {
					h.fail(w, r, e)
					return
				}
			}
			h.fail(w, r, fromKeys(err))
			return
		}
	}
	d, err := h.m.AllowRate(ctx, k)
	setRateHeaders(w, &d)
	if err != nil {
		h.fail(w, r, refusal(&d, err))
		return
	}
	buf := getBuf()
	// Authenticate and AllowRate both refuse a revoked or expired key at
	// the Manager's clock, so the key is active.
	b := appendKeyBody((*buf)[:0], &k, true)
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, http.StatusOK, b)
	putBuf(buf, b)
}

// reissue serves POST /account/key/reissue: a session or a root key gets a
// new root key; every key of the account issued before is revoked, at once
// or after the grace period the body asks for. The checks run in the order
// of DESIGN 5.6: body size, credentials, rate, body content, conditions.
func (h *Handler) reissue(w http.ResponseWriter, r *http.Request) {
	body, e := h.readBody(w, r)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	c, e := h.authorize(w, r, errChildKeyForbidden)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	if e := h.verifiedFirst(r, c.account); e != nil {
		h.fail(w, r, e)
		return
	}
	opts, e := body.reissueOptions()
	if e != nil {
		h.fail(w, r, e)
		return
	}
	ctx := h.callerContext(r, c)
	var iss keys.Issued
	var err error
	if c.key != nil {
		// ReissueFrom, not Reissue: the key may have been revoked by
		// another process since this Manager cached it, and a revoked root
		// key must not mint its successor.
		iss, err = h.m.ReissueFrom(ctx, *c.key, opts...)
	} else {
		iss, err = h.m.Reissue(ctx, c.account, opts...)
	}
	if err != nil {
		h.fail(w, r, fromKeys(err))
		return
	}
	buf := getBuf()
	writeSecret(w, http.StatusOK, buf, appendReissueBody((*buf)[:0], &iss))
}

// allowAccountRate counts a session request of an account that has no
// active root key against the account's per-minute rate.
func (h *Handler) allowAccountRate(w http.ResponseWriter, r *http.Request, acct string) *Error {
	d, err := h.m.AllowAccountRate(r.Context(), acct)
	if d.Rate.Limit > 0 {
		h.gate.learn(acct, keys.Limits{RequestsPerMinute: int(d.Rate.Limit)})
	}
	setRateHeaders(w, &d) // none when nothing was counted
	if err != nil {
		return refusal(&d, err)
	}
	return nil
}

// drainBody reads and discards the request body, at most h.maxBody bytes;
// a longer one is refused. Errors reading it are ignored, since the body
// is.
func (h *Handler) drainBody(w http.ResponseWriter, r *http.Request) *Error {
	if r.Body == nil || r.Body == http.NoBody || h.maxBody < 0 {
		return nil
	}
	if r.ContentLength > h.maxBody {
		return errTooLarge(nil)
	}
	_, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, h.maxBody))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return errTooLarge(err)
	}
	return nil
}

// verifiedFirst refuses a reissue or a new child key for an account whose
// email is not verified before the body is read: 403 before 400, the
// contract's order. Reissue and IssueChild check it again inside their
// store call.
func (h *Handler) verifiedFirst(r *http.Request, acct string) *Error {
	if a, err := h.m.Account(r.Context(), acct); err == nil && !a.EmailVerified {
		return fromKeys(keys.ErrEmailNotVerified)
	}
	return nil
}
