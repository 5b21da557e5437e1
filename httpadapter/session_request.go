package httpadapter

import (
	"fmt"
	"net/http"
)

// CodeCrossOriginRequest is the code of a 403 for a state-changing request
// authorised by Options.SessionFromRequest (a cookie) that came from
// another origin (DESIGN 5.2, 5.6).
const CodeCrossOriginRequest = "cross_origin_request"

func errCrossOrigin(err error) *Error {
	return newError(http.StatusForbidden, CodeCrossOriginRequest,
		"This request came from another origin and is authorised only by a cookie; it is refused.", err)
}

// credential is what authorises a request to the account endpoints: an
// API key (apiKey, token) or a verified session (account).
type credential struct {
	apiKey  bool
	token   string
	account string
}

// setRequestSessions configures SessionFromRequest and its cross-origin
// protection. It panics on a malformed trusted origin, as New does on
// other programming errors.
func (h *Handler) setRequestSessions(opts Options) {
	h.reqSession = opts.SessionFromRequest
	h.crossOrigin = http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := h.crossOrigin.AddTrustedOrigin(o); err != nil {
			panic(fmt.Sprintf("httpadapter: Options.TrustedOrigins: %v", err))
		}
	}
	// The default deny handler writes text/plain; Check is called
	// instead, so that the refusal is a JSON error like every other.
}

// credential reads the request's credential: the Authorization header if
// there is one (it always wins), else the request session, else none (401
// missing_credentials). A bearer session token is verified here.
func (h *Handler) credential(w http.ResponseWriter, r *http.Request) (credential, *Error) {
	if len(r.Header["Authorization"]) == 0 && h.reqSession != nil {
		return h.requestSession(w, r)
	}
	token, apiKey, e := h.bearer(r, true)
	if e != nil {
		return credential{}, e
	}
	if apiKey {
		return credential{apiKey: true, token: token}, nil
	}
	acct, e := h.session(r.Context(), token)
	if e != nil {
		return credential{}, e
	}
	return credential{account: acct}, nil
}

// requestSession authorises r by Options.SessionFromRequest. A request
// that changes state (any method but GET, HEAD and OPTIONS) must also pass
// the cross-origin check: a browser sends cookies with a cross-site form
// post, and a cookie alone must not reissue a key for another site. The
// refusal comes after authentication, so, as DESIGN 5.6 says of every
// such 403, it counts against the account's per-minute rate and carries
// the X-RateLimit-* headers. API keys and bearer sessions are not checked:
// a browser never attaches them on its own.
func (h *Handler) requestSession(w http.ResponseWriter, r *http.Request) (credential, *Error) {
	acct, err := h.reqSession(r)
	if err != nil {
		return credential{}, errInvalidSession(err)
	}
	if acct == "" {
		return credential{}, errMissingCredentials(challengeBare)
	}
	if e := h.gateSession(acct); e != nil {
		return credential{}, e
	}
	if err := h.crossOrigin.Check(r); err != nil {
		h.countSessionRate(w, r, acct)
		return credential{}, errCrossOrigin(err)
	}
	return credential{account: acct}, nil
}

// countSessionRate counts a refused session request as allowSession
// counts an admitted one (and tells the gate the account's rate), setting
// the rate-limit headers. The refusal stands whatever the count says:
// credentials are checked before the rate.
func (h *Handler) countSessionRate(w http.ResponseWriter, r *http.Request, acct string) {
	_ = h.allowSession(w, r, acct)
}
