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
func (h *Handler) credential(r *http.Request) (credential, *Error) {
	if len(r.Header["Authorization"]) == 0 && h.reqSession != nil {
		return h.requestSession(r)
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
// that changes state (any method but GET, HEAD and OPTIONS) must first
// pass the cross-origin check, before the session function runs: a
// browser sends cookies with a cross-site form post, and a cookie alone
// must not reissue a key for another site. API keys and bearer sessions
// are not checked: a browser never attaches them on its own.
func (h *Handler) requestSession(r *http.Request) (credential, *Error) {
	if err := h.crossOrigin.Check(r); err != nil {
		return credential{}, errCrossOrigin(err)
	}
	acct, err := h.reqSession(r)
	if err != nil {
		return credential{}, errInvalidSession(err)
	}
	if acct == "" {
		return credential{}, errMissingCredentials(challengeBare)
	}
	return credential{account: acct}, nil
}
