package httpadapter

import (
	"context"
	"net/http"

	"github.com/keyward/keys"
)

// RequireKey guards the host's data routes. It admits a request only if
// it carries an API key (Authorization: Bearer sk_live_…) that
// authenticates and that Manager.Allow admits against the key's and its
// account's per-minute rate and monthly quota. The key is then in the
// request's context for next (keys.FromContext), and so is Allow's
// Decision (DecisionFromContext).
//
// Every answer to a request whose key authenticated carries
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, set
// before next runs (next may overwrite them). Refusals are answered
// through the Handler's ErrorHandler: 401 for missing or bad credentials,
// a session token included (invalid_api_key: data routes take API keys
// only, and a session token is never handed to the SessionVerifier here),
// 429 rate_limited or quota_exceeded with Retry-After. RequireKey never
// reads the request body.
func (h *Handler) RequireKey(next http.Handler) http.Handler {
	if next == nil {
		panic("httpadapter: RequireKey with a nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _, e := h.bearer(r, false)
		if e != nil {
			h.fail(w, r, e)
			return
		}
		ctx := r.Context()
		k, err := h.m.Authenticate(ctx, token)
		if err != nil {
			h.fail(w, r, fromKeys(err))
			return
		}
		d, err := h.m.Allow(ctx, k)
		setRateHeaders(w, &d)
		if err != nil {
			h.fail(w, r, refusal(&d, err))
			return
		}
		ctx = context.WithValue(keys.NewContext(ctx, k), decisionKey{}, &d)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type decisionKey struct{}

// DecisionFromContext returns the Decision with which RequireKey admitted
// the request: what is left of the key's rate and monthly quota (its Rate
// and Quota windows), for a handler that wants to show it. ok is false
// outside RequireKey.
func DecisionFromContext(ctx context.Context) (d keys.Decision, ok bool) {
	p, ok := ctx.Value(decisionKey{}).(*keys.Decision)
	if !ok || p == nil {
		return keys.Decision{}, false
	}
	return *p, true
}
