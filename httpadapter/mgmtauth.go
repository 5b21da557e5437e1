package httpadapter

import (
	"errors"
	"net/http"

	"github.com/keyward/keys"
)

// caller is who sent a key-management request: a session of an account,
// or an API key.
type caller struct {
	account string
	// key is the API key that authenticated the request, nil for a
	// session.
	key *keys.Key
}

// authorize authenticates a key-management request and counts it against
// the per-minute rate (never the quota), in the order of the contract:
// credentials (401, then the 403 of a key that may not use the route),
// then the rate (429). The rate-limit headers are set whenever something
// was counted, refusals included. manage is true for /account/keys…,
// which a child key or a retiring root may not use.
//
// A session may come from the Authorization header or, with
// Options.SessionFromRequest, from the request itself (a cookie); a
// state-changing request authorised that way must pass the cross-origin
// check (credential does both).
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, manage bool) (caller, *Error) {
	cred, e := h.credential(w, r)
	if e != nil {
		return caller{}, e
	}
	ctx := r.Context()
	if cred.apiKey {
		k, err := h.m.Authenticate(ctx, cred.token)
		if err != nil {
			return caller{}, fromKeys(err)
		}
		h.authenticated(r, &k)
		// Credentials come before the rate: a refusal here wins over a
		// 429, though the request is counted all the same.
		forbidden := h.checkNetwork(r, &k)
		switch {
		case forbidden != nil || !manage:
		case !k.IsRoot:
			forbidden = errManageForbidden(keys.ErrChildKeyForbidden)
		case k.Retiring(h.m.Now()):
			forbidden = errRootKeyRetired(keys.ErrRootKeyRetired)
		}
		d, err := h.m.AllowRate(ctx, k)
		setRateHeaders(w, &d)
		switch {
		case forbidden != nil && (err == nil || errors.Is(err, keys.ErrRateLimited)):
			return caller{}, forbidden
		case err != nil:
			return caller{}, refusal(&d, err)
		}
		return caller{account: k.AccountID, key: &k}, nil
	}
	acct := cred.account
	root, err := h.m.RootKey(ctx, acct)
	switch {
	case err == nil:
		h.gate.learn(acct, root.Pool)
		d, err := h.m.AllowRate(ctx, root)
		setRateHeaders(w, &d)
		if err != nil {
			return caller{}, refusal(&d, err)
		}
	case errors.Is(err, keys.ErrNoActiveRootKey):
		if e := h.allowAccountRate(w, r, acct); e != nil {
			return caller{}, e
		}
	default:
		return caller{}, fromKeys(err)
	}
	return caller{account: acct}, nil
}
