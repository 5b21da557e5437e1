package httpadapter

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// The key-management routes:
//
//	GET    {BasePath}/account/keys        the account's keys, paged
//	POST   {BasePath}/account/keys        a new child key, shown once
//	GET    {BasePath}/account/keys/{id}   one key of the account
//	PATCH  {BasePath}/account/keys/{id}   change a key's settings
//	DELETE {BasePath}/account/keys/{id}   revoke a child key
//	GET    {BasePath}/account/usage       this month's (or ?month=) counts
//
// A session or a root key may use them all; a child key, and a root key
// in the grace of a reissue, only /account/usage (where they see their own
// entry and the pool). Each request counts against the per-minute rate,
// not the monthly quota. Checks run in this order: body size (413),
// credentials (401, 403), rate (429), request content (400), conditions
// (409). Unknown fields of a JSON body are ignored.

// mgmtRoutes holds the paths of the key-management routes.
type mgmtRoutes struct {
	keysPath  string // {BasePath}/account/keys
	usagePath string // {BasePath}/account/usage
	disabled  bool   // Options.DisableKeyManagement
}

func newMgmtRoutes(base string, opts Options) mgmtRoutes {
	return mgmtRoutes{keysPath: base + "/account/keys", usagePath: base + "/account/usage",
		disabled: opts.DisableKeyManagement}
}

// serveMgmt serves r if path is one of the key-management routes, and
// reports whether it was.
func (h *Handler) serveMgmt(w http.ResponseWriter, r *http.Request, path string) bool {
	rt := &h.mgmt
	switch {
	case path == rt.usagePath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.fail(w, r, errMethodNotAllowed("GET, HEAD"))
			return true
		}
		h.usage(w, r)
	case rt.disabled:
		return false
	case path == rt.keysPath:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.listKeys(w, r)
		case http.MethodPost:
			h.createKey(w, r)
		default:
			h.fail(w, r, errMethodNotAllowed("GET, HEAD, POST"))
		}
	case strings.HasPrefix(path, rt.keysPath+"/"):
		id := path[len(rt.keysPath)+1:]
		if id == "" || strings.Contains(id, "/") {
			return false
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.serveKey(w, r, id, (*Handler).getAccountKey)
		case http.MethodPatch:
			h.serveKey(w, r, id, (*Handler).patchKey)
		case http.MethodDelete:
			h.serveKey(w, r, id, (*Handler).deleteKey)
		default:
			h.fail(w, r, errMethodNotAllowed("GET, HEAD, PATCH, DELETE"))
		}
	default:
		return false
	}
	return true
}

// begin runs the checks every key-management route shares, in the
// contract's order: the body (413), credentials (401/403) and the rate
// (429). body is read for POST and PATCH and drained otherwise. child is
// as for authorize: errManageForbidden on /account/keys…, nil on
// /account/usage, which every key may read.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, child func(error) *Error) (caller, []byte, bool) {
	body := &reqBody{}
	var e *Error
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		body, e = h.readBody(w, r)
	} else {
		e = h.drainBody(w, r)
	}
	if e != nil {
		h.fail(w, r, e)
		return caller{}, nil, false
	}
	c, e := h.authorize(w, r, child)
	if e == nil {
		// A body that could not be read, or one sent while MaxBodyBytes
		// is negative, is refused at the content stage.
		e = body.refused
	}
	if e != nil {
		h.fail(w, r, e)
		return caller{}, nil, false
	}
	return c, body.data, true
}

// listKeys serves GET /account/keys.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request) {
	c, _, ok := h.begin(w, r, errManageForbidden)
	if !ok {
		return
	}
	opts, e := pageOptions(r)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	ks, next, err := h.m.ListKeysPage(r.Context(), c.account, opts)
	if err != nil {
		h.fail(w, r, mgmtError(err, http.StatusNotFound))
		return
	}
	now := h.m.Now()
	b := make([]byte, 0, 64+len(ks)*640)
	b = append(b, `{"keys":[`...)
	for i := range ks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKObject(b, &ks[i], now)
	}
	b = append(b, `],"next_cursor":`...)
	if next == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, next)
	}
	b = append(b, '}')
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, http.StatusOK, b)
}

// createKey serves POST /account/keys: a new child key of the account.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) {
	c, body, ok := h.begin(w, r, errManageForbidden)
	if !ok {
		return
	}
	// An account that may not have keys is refused (403) before its body
	// is read (400), in the contract's order.
	if e := h.verifiedFirst(r, c.account); e != nil {
		h.fail(w, r, e)
		return
	}
	f, e := parseObject(body)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	opts, e := childOptions(f)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	iss, err := h.m.IssueChild(h.callerContext(r, c), c.account, opts)
	if err != nil {
		h.fail(w, r, mgmtError(err, http.StatusConflict))
		return
	}
	buf := getBuf()
	writeSecret(w, http.StatusCreated, buf, appendIssuedChild((*buf)[:0], &iss))
}

// keyRoute is the logic of a route on one key of the account,
// /account/keys/{id}, once begin and the id have passed: it returns the
// key as it is afterwards, which serveKey answers with.
type keyRoute func(h *Handler, r *http.Request, c caller, body []byte, id uuid.UUID) (keys.Key, *Error)

// serveKey serves /account/keys/{id} (rawID) with route.
func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request, rawID string, route keyRoute) {
	c, body, ok := h.begin(w, r, errManageForbidden)
	if !ok {
		return
	}
	id, e := parseKeyID(rawID)
	var k keys.Key
	if e == nil {
		k, e = route(h, r, c, body, id)
	}
	if e != nil {
		h.fail(w, r, e)
		return
	}
	h.writeK(w, &k)
}

// keyResult is k, or the answer to err, the Manager's error about one key.
func keyResult(k keys.Key, err error) (keys.Key, *Error) {
	if err != nil {
		return keys.Key{}, mgmtError(err, http.StatusNotFound)
	}
	return k, nil
}

// getAccountKey serves GET /account/keys/{id}.
func (h *Handler) getAccountKey(r *http.Request, c caller, _ []byte, id uuid.UUID) (keys.Key, *Error) {
	return keyResult(h.m.AccountKey(r.Context(), c.account, id))
}

// patchKey serves PATCH /account/keys/{id}.
func (h *Handler) patchKey(r *http.Request, c caller, body []byte, id uuid.UUID) (keys.Key, *Error) {
	f, e := parseObject(body)
	if e != nil {
		return keys.Key{}, e
	}
	u, e := keyUpdate(f)
	if e != nil {
		return keys.Key{}, e
	}
	return keyResult(h.m.UpdateKey(h.callerContext(r, c), c.account, id, u))
}

// deleteKey serves DELETE /account/keys/{id}: it revokes a child key of
// the account (again is fine) and answers with the key as it is now. A
// root key is refused: reissue it instead.
func (h *Handler) deleteKey(r *http.Request, c caller, _ []byte, id uuid.UUID) (keys.Key, *Error) {
	ctx := r.Context()
	k, e := keyResult(h.m.AccountKey(ctx, c.account, id))
	if e != nil {
		return keys.Key{}, e
	}
	// The active root is replaced, not deleted; a retiring root may be
	// revoked at once (its children, retiring with it, go too).
	if k.IsRoot && !k.Retiring(h.m.Now()) {
		return keys.Key{}, errInvalidRequest("A root key cannot be deleted; reissue it instead (POST /account/key/reissue).")
	}
	if err := h.m.RevokeAccountKey(h.callerContext(r, c), c.account, id); err != nil {
		return keys.Key{}, mgmtError(err, http.StatusNotFound)
	}
	return keyResult(h.m.AccountKey(ctx, c.account, id))
}

// writeK answers 200 {"key":K}.
func (h *Handler) writeK(w http.ResponseWriter, k *keys.Key) {
	buf := getBuf()
	b := appendK((*buf)[:0], k, h.m.Now())
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, http.StatusOK, b)
	putBuf(buf, b)
}

// ownEntry reports whether a usage entry is one the caller may see.
func (c *caller) ownEntry(id uuid.UUID) bool {
	return c.key == nil || (c.key.IsRoot && c.key.RevokedAt == nil) || c.key.ID == id
}

// callerContext is r's context carrying the caller as the actor of the
// audit event a change writes.
func (h *Handler) callerContext(r *http.Request, c caller) context.Context {
	return h.actorContext(r, credential{apiKey: c.key != nil, account: c.account}, c.key)
}
