package httpadapter

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keys"
)

// Error codes, the "code" of an error body. The first twelve are the
// contract's error table (README, "Errors"); the rest cover situations it
// does not name.
const (
	CodeMissingCredentials = "missing_credentials" // 401: no usable Authorization header
	CodeInvalidAPIKey      = "invalid_api_key"     // 401: malformed or unknown key, or not an API key on a data route
	CodeKeyRevoked         = "key_revoked"         // 401
	CodeKeyExpired         = "key_expired"         // 401
	CodeInvalidSession     = "invalid_session"     // 401: the session verifier refused the token
	CodeChildKeyForbidden  = "child_key_forbidden" // 403: a child key on reissue
	CodeEmailNotVerified   = "email_not_verified"  // 403: reissue before email verification
	CodeNoActiveKey        = "no_active_key"       // 404: GET by a session whose account has no active root key
	CodeMethodNotAllowed   = "method_not_allowed"  // 405, with Allow
	CodeRateLimited        = "rate_limited"        // 429, with Retry-After
	CodeQuotaExceeded      = "quota_exceeded"      // 429, with Retry-After
	CodeInternal           = "internal_error"      // 500: the store (or a custom Limiter) failed

	CodeNotFound           = "not_found"           // 404: a path under the mount that is not an endpoint
	CodeAccountNotFound    = "account_not_found"   // 404: a valid session names an account the Manager does not have
	CodeRequestTooLarge    = "request_too_large"   // 413: a request body over Options.MaxBodyBytes
	CodeServiceUnavailable = "service_unavailable" // 503: the Manager is closed (shutting down), or busy (keys.ErrBusy, with Retry-After)

	CodeInvalidRequest    = "invalid_request"    // 400: a bad request body or field (the message names it), or two credentials
	CodeInsufficientScope = "insufficient_scope" // 403: the key lacks a scope the route needs (WWW-Authenticate names them)
	CodeIPNotAllowed      = "ip_not_allowed"     // 403: the client address is outside the key's allowed networks
	CodeRootKeyRetired    = "root_key_retired"   // 403: a root key in the grace of a reissue tried to reissue
	CodeRootKeyChanged    = "root_key_changed"   // 409: the reissue's if_root_key_id condition does not hold
)

// Error is an error answer: its HTTP status, its code and message for the
// client, and the error behind it for the server's log. Options.ErrorHandler
// receives it.
//
// Code and Message are safe to show to anyone: they never contain a token,
// an internal error text, SQL or a stack. Err may contain any of those
// except the token and must not be sent to the client.
type Error struct {
	// Status is the HTTP status code: 400, 401, 403, 404, 405, 409, 413,
	// 429, 500 or 503.
	Status int
	// Code is one of the Code constants.
	Code string
	// Message is a short human-readable explanation in English.
	Message string
	// RetryAfter is how long the client should wait, for 429 answers and
	// a 503 for keys.ErrBusy; zero otherwise. The Retry-After header already carries it, in whole
	// seconds rounded up.
	RetryAfter time.Duration
	// Err is the underlying error, for logging; nil when there is none (a
	// missing header, a wrong method).
	Err error

	// challenge is the WWW-Authenticate value of a 401.
	challenge string
	// allow is the Allow value of a 405.
	allow string
}

// Error returns the status, code and underlying error, for logs.
func (e *Error) Error() string {
	s := "httpadapter: " + http.StatusText(e.Status) + ": " + e.Code
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// WWW-Authenticate challenges (RFC 6750 section 3). A request without
// credentials gets the bare challenge; one whose credentials are present
// but unusable says why.
const (
	challengeBare           = `Bearer`
	challengeInvalidRequest = `Bearer error="invalid_request"`
	challengeInvalidToken   = `Bearer error="invalid_token"`
)

func newError(status int, code, msg string, err error) *Error {
	e := &Error{Status: status, Code: code, Message: msg, Err: err}
	if status == http.StatusUnauthorized {
		e.challenge = challengeInvalidToken
	}
	return e
}

func errMissingCredentials(challenge string) *Error {
	e := newError(http.StatusUnauthorized, CodeMissingCredentials,
		"Send an API key or a session token as: Authorization: Bearer <token>.", nil)
	e.challenge = challenge
	return e
}

func errInvalidAPIKey(err error) *Error {
	return newError(http.StatusUnauthorized, CodeInvalidAPIKey, "The API key is not valid.", err)
}

func errInvalidSession(err error) *Error {
	return newError(http.StatusUnauthorized, CodeInvalidSession, "The session is not valid or has expired.", err)
}

func errNotFound() *Error {
	return newError(http.StatusNotFound, CodeNotFound, "There is nothing at this path.", nil)
}

func errMethodNotAllowed(allow string) *Error {
	e := newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		"This method is not allowed here; the Allow header lists those that are.", nil)
	e.allow = allow
	return e
}

func errTooLarge(err error) *Error {
	return newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "The request body is too large.", err)
}

func errDataRouteNeedsKey() *Error {
	return newError(http.StatusUnauthorized, CodeInvalidAPIKey,
		"This endpoint needs an API key; a session token is not accepted here.", nil)
}

// fromKeys turns an error of the keys package (or of a store under it)
// into the answer for it. Anything it does not recognise is a 500 whose
// message says nothing about the cause.
func fromKeys(err error) *Error {
	switch {
	case errors.Is(err, keys.ErrMalformedKey), errors.Is(err, keys.ErrUnknownKey):
		return errInvalidAPIKey(err)
	case errors.Is(err, keys.ErrRevokedKey):
		return newError(http.StatusUnauthorized, CodeKeyRevoked, "The API key has been revoked.", err)
	case errors.Is(err, keys.ErrExpiredKey):
		return newError(http.StatusUnauthorized, CodeKeyExpired, "The API key has expired.", err)
	case errors.Is(err, keys.ErrChildKeyForbidden):
		return errChildKeyForbidden(err)
	case errors.Is(err, keys.ErrEmailNotVerified):
		return newError(http.StatusForbidden, CodeEmailNotVerified,
			"Verify the account's email address before issuing a key.", err)
	case errors.Is(err, keys.ErrNoActiveRootKey):
		return newError(http.StatusNotFound, CodeNoActiveKey, "The account has no active API key.", err)
	case errors.Is(err, keys.ErrAccountNotFound):
		return newError(http.StatusNotFound, CodeAccountNotFound, "No account exists for this session.", err)
	case errors.Is(err, keys.ErrRateLimited):
		return newError(http.StatusTooManyRequests, CodeRateLimited,
			"Too many requests; retry after the number of seconds in the Retry-After header.", err)
	case errors.Is(err, keys.ErrQuotaExceeded):
		return newError(http.StatusTooManyRequests, CodeQuotaExceeded,
			"The monthly request quota is used up; retry after the number of seconds in the Retry-After header.", err)
	case errors.Is(err, keys.ErrRootKeyRetired):
		return errRootKeyRetired(err)
	case errors.Is(err, keys.ErrRootKeyChanged):
		return newError(http.StatusConflict, CodeRootKeyChanged,
			"The account's root key is not the one if_root_key_id names; nothing was changed.", err)
	case errors.Is(err, keys.ErrInvalidArgument):
		return newError(http.StatusBadRequest, CodeInvalidRequest, "The request is not valid.", err)
	case errors.Is(err, keys.ErrClosed):
		return newError(http.StatusServiceUnavailable, CodeServiceUnavailable,
			"The service is unavailable; retry shortly.", err)
	case errors.Is(err, keys.ErrBusy):
		// The key may exist: the Manager's budget of store lookups for
		// uncached tokens is spent (a flood of forged ones, most likely),
		// so the answer must not be invalid_api_key.
		e := newError(http.StatusServiceUnavailable, CodeServiceUnavailable,
			"The service is busy; retry after the number of seconds in the Retry-After header.", err)
		e.RetryAfter = time.Second
		return e
	default:
		return newError(http.StatusInternalServerError, CodeInternal, "Internal server error.", err)
	}
}

func errChildKeyForbidden(err error) *Error {
	return newError(http.StatusForbidden, CodeChildKeyForbidden,
		"A child key cannot reissue the root key; use the root key or a session.", err)
}

// DefaultErrorHandler writes e as the package does when Options.ErrorHandler
// is nil: status e.Status and the body {"error":{"code":…,"message":…}} as
// application/json. A custom ErrorHandler may call it for the errors it does
// not render itself.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, e *Error) {
	buf := getBuf()
	b := appendErrorBody((*buf)[:0], e.Code, e.Message)
	writeJSON(w, e.Status, b)
	putBuf(buf, b)
}

// fail answers r with e: it sets the protocol headers that belong to e
// (WWW-Authenticate, Allow, Retry-After), logs it, and hands it to the
// error handler. Rate-limit headers, if any, were set by the caller.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, e *Error) {
	hdr := w.Header()
	hdr["X-Content-Type-Options"] = nosniff
	if e.challenge != "" {
		hdr.Set("WWW-Authenticate", e.challenge)
	}
	if e.allow != "" {
		hdr.Set("Allow", e.allow)
	}
	if e.RetryAfter > 0 {
		hdr.Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	h.logError(r, e)
	h.errorHandler(w, r, e)
}

// logError logs e: a 5xx at Error level with the underlying error, the
// rest at Debug. The request's token is never logged, and neither is the
// Authorization header.
func (h *Handler) logError(r *http.Request, e *Error) {
	ctx := r.Context()
	if !h.log.Enabled(ctx, slog.LevelDebug) && e.Status < 500 {
		return
	}
	method, path := clip(r.Method, 16), clip(r.URL.Path, 256)
	if e.Status >= 500 {
		if ctx.Err() != nil && errors.Is(e.Err, context.Canceled) {
			// The client went away mid-request: not a server failure.
			h.log.DebugContext(ctx, "httpadapter: request canceled", "method", method, "path", path, "err", e.Err)
			return
		}
		h.log.ErrorContext(ctx, "httpadapter: request failed", "method", method, "path", path,
			"status", e.Status, "code", e.Code, "err", e.Err)
		return
	}
	if e.Err != nil {
		h.log.DebugContext(ctx, "httpadapter: request refused", "method", method, "path", path,
			"status", e.Status, "code", e.Code, "err", e.Err)
		return
	}
	h.log.DebugContext(ctx, "httpadapter: request refused", "method", method, "path", path,
		"status", e.Status, "code", e.Code)
}

// clip shortens s to at most n bytes for a log line: a client chooses the
// method and the path, and may make them as long as the server's header
// limit allows.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
