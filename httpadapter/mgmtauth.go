package httpadapter

import (
	"errors"
	"net/http"

	"github.com/keyward/keys"
)

// caller is who sent an account request: a session of an account, or an
// API key.
type caller struct {
	account string
	// key is the API key that authenticated the request, nil for a
	// session.
	key *keys.Key
}

// authorize authenticates an account request and counts it against the
// per-minute rate (never the quota), in the order of the contract:
// credentials (401, then the 403 of a key that may not use the route),
// then the rate (429). The rate-limit headers are set whenever something
// was counted, refusals included. child is the 403 of a child key on a
// route only an active root key (or a session) may use, such as reissue
// and /account/keys…, where a retiring root is refused too; nil lets
// every key in.
//
// A session may come from the Authorization header or, with
// Options.SessionFromRequest, from the request itself (a cookie); a
// state-changing request authorised that way must pass the cross-origin
// check (credential does both).
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, child func(error) *Error) (caller, *Error) {
	cred, e := h.credential(w, r)
	if e != nil {
		return caller{}, e
	}
	if cred.apiKey {
		k, e := h.allowKey(w, r, cred.token, child)
		if e != nil {
			return caller{}, e
		}
		return caller{account: k.AccountID, key: &k}, nil
	}
	if e := h.allowSession(w, r, cred.account); e != nil {
		return caller{}, e
	}
	return caller{account: cred.account}, nil
}

// allowKey authenticates the API key token and counts the request against
// the key's per-minute rate; child is as for authorize.
func (h *Handler) allowKey(w http.ResponseWriter, r *http.Request, token string, child func(error) *Error) (keys.Key, *Error) {
	ctx := r.Context()
	k, err := h.m.Authenticate(ctx, token)
	if err != nil {
		return keys.Key{}, fromKeys(err)
	}
	h.authenticated(r, &k)
	// Credentials come before the rate: a refusal here wins over a 429,
	// though the request is counted all the same.
	forbidden := h.checkNetwork(r, &k)
	switch {
	case forbidden != nil || child == nil:
	case !k.IsRoot:
		forbidden = child(keys.ErrChildKeyForbidden)
	case k.Retiring(h.m.Now()):
		forbidden = errRootKeyRetired(keys.ErrRootKeyRetired)
	}
	d, err := h.m.AllowRate(ctx, k)
	setRateHeaders(w, &d)
	switch {
	case forbidden != nil && (err == nil || errors.Is(err, keys.ErrRateLimited)):
		return keys.Key{}, forbidden
	case err != nil:
		return keys.Key{}, refusal(&d, err)
	}
	return k, nil
}

// allowSession counts a session request of acct against its active root
// key's per-minute rate or, before the account's first key, the
// account's, and tells the session gate the account's rate.
func (h *Handler) allowSession(w http.ResponseWriter, r *http.Request, acct string) *Error {
	ctx := r.Context()
	root, err := h.m.RootKey(ctx, acct)
	switch {
	case err == nil:
		h.gate.learn(acct, root.Pool)
		d, err := h.m.AllowRate(ctx, root)
		setRateHeaders(w, &d)
		if err != nil {
			return refusal(&d, err)
		}
		return nil
	case errors.Is(err, keys.ErrNoActiveRootKey):
		return h.allowAccountRate(w, r, acct)
	}
	return fromKeys(err)
}
