package httpadapter

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// serveAudit answers GET /account/audit (next to /account/key under the
// same base) and reports whether path was that route.
func (h *Handler) serveAudit(w http.ResponseWriter, r *http.Request, path string) bool {
	base := strings.TrimSuffix(h.keyPath, "/key")
	if !strings.HasPrefix(path, base) || path[len(base):] != "/audit" {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, errMethodNotAllowed("GET, HEAD"))
		return true
	}
	h.audit(w, r)
	return true
}

// actorContext returns r's context carrying the keys.Actor of its
// credential: a session's account, or the API key k, with the client's
// address and user agent, so that the changes the request makes are
// recorded with who made them.
func (h *Handler) actorContext(r *http.Request, cred credential, k *keys.Key) context.Context {
	a := keys.Actor{UserAgent: r.UserAgent()}
	if ip := h.clientIP(r); ip.IsValid() {
		a.IP = ip.String()
	}
	if cred.apiKey && k != nil {
		a.Type, a.ID, a.KeyID = keys.ActorAPIKey, k.ID.String(), k.ID
	} else {
		a.Type, a.ID = keys.ActorSession, cred.account
	}
	return keys.WithActor(r.Context(), a)
}

// audit serves GET /account/audit: the account's audit events, newest
// first, to a session or an active root key; like the other account routes
// it counts against the per-minute rate and carries X-RateLimit-*.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	if e := h.drainBody(w, r); e != nil {
		h.fail(w, r, e)
		return
	}
	c, e := h.authorize(w, r, errAuditForbidden)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	p, e := pageQuery(r)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	evs, next, err := h.m.AuditEvents(r.Context(), c.account, p)
	if err != nil {
		h.fail(w, r, fromKeys(err))
		return
	}
	out := auditBody{Events: make([]auditEvent, len(evs))}
	for i, ev := range evs {
		out.Events[i] = newAuditEvent(ev)
	}
	if next != "" {
		out.NextCursor = &next
	}
	b, err := json.Marshal(out)
	if err != nil {
		h.fail(w, r, fromKeys(err))
		return
	}
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, http.StatusOK, b)
}

// pageQuery reads ?limit= and ?cursor=; a limit that is not a number from
// 1 to keys.MaxPageLimit is 400 invalid_request naming it (a bad cursor is
// refused by the Manager).
func pageQuery(r *http.Request) (keys.Page, *Error) {
	q := r.URL.Query()
	var p keys.Page
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > keys.MaxPageLimit {
			return p, newError(http.StatusBadRequest, CodeInvalidRequest,
				"limit must be a whole number from 1 to "+strconv.Itoa(keys.MaxPageLimit)+".", nil)
		}
		p.Limit = n
	}
	p.Cursor = q.Get("cursor")
	return p, nil
}

// auditBody is the answer of GET /account/audit (DESIGN 5.2).
type auditBody struct {
	Events     []auditEvent `json:"events"`
	NextCursor *string      `json:"next_cursor"`
}

type auditEvent struct {
	ID         uuid.UUID       `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	KeyID      *uuid.UUID      `json:"key_id"`
	Actor      auditActor      `json:"actor"`
	IP         *string         `json:"ip"`
	UserAgent  *string         `json:"user_agent"`
	Data       json.RawMessage `json:"data"`
}

type auditActor struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
}

func newAuditEvent(e keys.Event) auditEvent {
	out := auditEvent{ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Actor: auditActor{Type: e.Actor.Type},
		IP: optString(e.IP), UserAgent: optString(e.UserAgent), Data: e.Data}
	if e.KeyID != uuid.Nil {
		id := e.KeyID
		out.KeyID = &id
	}
	out.Actor.ID = optString(e.Actor.ID)
	if len(out.Data) == 0 {
		out.Data = json.RawMessage("{}")
	}
	return out
}

// optString is nil for "", shown as JSON null.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// leakContext is the context of a secret-scanning report's revocations:
// the actor is the system acting on the scanner's report (from the
// request's address and user agent), and the key.leaked events carry the
// url and source of the report's first item that has a url.
func leakContext(ctx context.Context, r *http.Request, reports []scanReport) context.Context {
	a := keys.Actor{Type: keys.ActorSystem, ID: "secret-scanning", UserAgent: r.UserAgent()}
	if ip := RemoteAddrIP(r); ip.IsValid() {
		a.IP = ip.String()
	}
	ctx = keys.WithActor(ctx, a)
	for _, rep := range reports {
		if rep.URL != "" {
			return keys.WithLeakSource(ctx, rep.URL, rep.Source)
		}
	}
	return ctx
}
