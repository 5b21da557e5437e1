package httpadapter

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keys"
)

// RequireKey guards the host's data routes. It admits a request only if
// it carries an API key (Authorization: Bearer sk_live_…; also X-API-Key
// or HTTP Basic when Options turn them on) that authenticates, that may be
// used from the client's address (the key's AllowedNetworks), that has
// every scope WithScopes names, and that Manager.Allow admits against the
// key's and its account's per-minute rate and monthly quota (n requests
// with WithCost(n)). The key is then in the request's context for next
// (keys.FromContext), and so is Allow's Decision (DecisionFromContext).
//
// Every answer to a request whose key authenticated carries
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, set
// before next runs (next may overwrite them). Refusals are answered
// through the Handler's ErrorHandler: 401 for missing or bad credentials,
// a session token included (invalid_api_key: data routes take API keys
// only, and a session token is never handed to the SessionVerifier here),
// 400 invalid_request for two credentials at once, 403 ip_not_allowed or
// insufficient_scope (counted against the per-minute rate only, never the
// quota), 429 rate_limited or quota_exceeded with Retry-After. RequireKey
// never reads the request body. It panics if next is nil.
func (h *Handler) RequireKey(next http.Handler, opts ...RequireOption) http.Handler {
	if next == nil {
		panic("httpadapter: RequireKey with a nil handler")
	}
	c := newRequireConfig(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, e := h.dataToken(r)
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
		h.authenticated(r, &k)
		if e := h.checkNetwork(r, &k); e != nil {
			h.refuseAfterAuth(w, r, &k, e)
			return
		}
		if e := checkScopes(c, &k); e != nil {
			h.refuseAfterAuth(w, r, &k, e)
			return
		}
		var d keys.Decision
		if c.cost == 1 {
			d, err = h.m.Allow(ctx, k)
		} else {
			d, err = h.m.AllowN(ctx, k, c.cost)
		}
		setRateHeaders(w, &d)
		if err != nil {
			h.fail(w, r, refusal(&d, err))
			return
		}
		ctx = context.WithValue(keys.NewContext(ctx, k), decisionKey{}, &d)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// refuseAfterAuth answers a request refused after its key authenticated
// (403, 400, 409): the request counts against the per-minute rate, never
// the monthly quota, and carries the rate-limit headers. The refusal wins
// over a rate limit (credentials are checked before the rate), but not over
// the key's revocation or a store failure that counting it runs into.
func (h *Handler) refuseAfterAuth(w http.ResponseWriter, r *http.Request, k *keys.Key, e *Error) {
	d, err := h.m.AllowRate(r.Context(), *k)
	setRateHeaders(w, &d)
	if err != nil && !errors.Is(err, keys.ErrRateLimited) {
		e = refusal(&d, err)
	}
	h.fail(w, r, e)
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
