package store

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Audit event types: every change a Store makes writes exactly one event of
// one of these types, in the transaction of the change.
const (
	EventAccountCreated       = "account.created"
	EventAccountTierChanged   = "account.tier_changed"
	EventAccountEmailVerified = "account.email_verified"
	EventAccountDeleted       = "account.deleted"
	EventKeyIssued            = "key.issued"
	EventKeyReissued          = "key.reissued"
	EventKeyRevoked           = "key.revoked"
	EventKeyLeaked            = "key.leaked"
	// EventKeyUpdated is for a change of a key's fields (UpdateKey); a
	// backend writes it with WriteEvent-style code like the others.
	EventKeyUpdated = "key.updated"
	EventKeysPruned = "keys.pruned"
)

// Actor types of an audit event.
const (
	ActorSession  = "session"
	ActorAPIKey   = "api_key"
	ActorOperator = "operator"
	ActorSystem   = "system"
)

// Limits on the text of an event; longer text is cut at a rune boundary.
const (
	maxActorID   = 256
	maxIP        = 64
	maxUserAgent = 512
	maxDataText  = 2048
)

// Audit says who makes a change: the actor and the request facts that every
// event the change writes records. It travels in the context of a change
// method (WithAudit), so that Store signatures stay as they are; a change
// made with a context that carries none is recorded with the actor
// ActorSystem.
type Audit struct {
	// ActorType is one of the Actor* constants; "" means ActorSystem.
	ActorType string
	// ActorID names the actor: the account ID of a session, the key ID of
	// an API key, the OS user of an operator; "" means none.
	ActorID string
	// IP and UserAgent are the client's, "" when unknown.
	IP        string
	UserAgent string
	// Data is added to the data of the event the change writes (for a
	// key.leaked event: "url" and "source" of the report). Values are text
	// the store cleans and cuts like the fields above; the store's own data
	// members win over these.
	Data map[string]string
	// At is the time of a change whose method takes none (DeleteAccount,
	// PruneRevoked); the zero value means the store's wall clock.
	At time.Time
	// Log, if not nil, holds after the change call returns exactly the
	// events the call committed (none when it failed).
	Log *EventLog
}

type auditKey struct{}

// WithAudit returns ctx carrying a: every change method called with it
// records a as the event's actor.
func WithAudit(ctx context.Context, a Audit) context.Context {
	return context.WithValue(ctx, auditKey{}, a)
}

// AuditFrom returns the Audit ctx carries, or the zero Audit.
func AuditFrom(ctx context.Context) Audit {
	a, _ := ctx.Value(auditKey{}).(Audit)
	return a
}

// Event is one stored audit event.
type Event struct {
	// ID is a time-ordered UUID (version 7).
	ID        uuid.UUID
	AccountID string
	Type      string
	// OccurredAt is the time of the change, as the change method was given
	// it (the caller's clock).
	OccurredAt time.Time
	// KeyID is the key the event is about (the new root of a reissue, the
	// revoked or issued key), uuid.Nil for none.
	KeyID     uuid.UUID
	ActorType string
	ActorID   string
	// IP and UserAgent are "" when unknown.
	IP        string
	UserAgent string
	// Data is a JSON object, valid UTF-8 without NUL; its members depend on
	// Type (documented in the README).
	Data json.RawMessage
}

// EventCursor is a position in an account's events in the order
// AuditEvents uses, newest first: (OccurredAt, ID) descending. The zero
// value is the position before the newest event.
type EventCursor struct {
	OccurredAt time.Time
	ID         uuid.UUID
}

// IsZero reports whether c is the position before the newest event.
func (c EventCursor) IsZero() bool { return c.OccurredAt.IsZero() && c.ID == uuid.Nil }

// CursorAfterEvent returns the position just after e (older than e).
func CursorAfterEvent(e Event) EventCursor { return EventCursor{OccurredAt: e.OccurredAt, ID: e.ID} }

// Before reports whether a page starting after c includes e, that is,
// whether e is older than the position c.
func (c EventCursor) Before(e Event) bool {
	if c.IsZero() {
		return true
	}
	if cmp := c.OccurredAt.Compare(e.OccurredAt); cmp != 0 {
		return cmp > 0
	}
	return bytes.Compare(c.ID[:], e.ID[:]) > 0
}

// CompareEvents orders events as AuditEvents does: newest first, then by
// ID descending.
func CompareEvents(a, b Event) int {
	if c := b.OccurredAt.Compare(a.OccurredAt); c != 0 {
		return c
	}
	return bytes.Compare(b.ID[:], a.ID[:])
}

// NewEvent builds the event a change method writes (a zero at means the
// Audit's At): the actor from ctx's
// Audit, cleaned so that any database stores it (valid UTF-8, no NUL,
// bounded length), and data merged over the Audit's Data as a JSON object.
// Backends call it inside their change, so the event and the change commit
// together.
func NewEvent(ctx context.Context, accountID, typ string, keyID uuid.UUID, at time.Time, data map[string]any) Event {
	a := AuditFrom(ctx)
	if at.IsZero() {
		at = a.At
		if at.IsZero() {
			at = time.Now()
		}
	}
	actor := a.ActorType
	if actor == "" {
		actor = ActorSystem
	}
	merged := make(map[string]any, len(a.Data)+len(data))
	for k, v := range a.Data {
		merged[clean(k, 64)] = clean(v, maxDataText)
	}
	for k, v := range data {
		merged[k] = v
	}
	raw, err := json.Marshal(merged)
	if err != nil {
		raw = []byte("{}")
	}
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	e := Event{
		ID:         id,
		AccountID:  accountID,
		Type:       typ,
		OccurredAt: at.UTC().Truncate(time.Microsecond),
		KeyID:      keyID,
		ActorType:  clean(actor, 32),
		ActorID:    clean(a.ActorID, maxActorID),
		IP:         clean(a.IP, maxIP),
		UserAgent:  clean(a.UserAgent, maxUserAgent),
		Data:       raw,
	}
	if a.Log != nil {
		a.Log.Add(e)
	}
	return e
}

// clean returns s as valid UTF-8 without NUL, cut to at most max bytes at
// a rune boundary: text a client chose (a User-Agent) must never make a
// database refuse the change it rides along with.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// LeakData is the data of a key.leaked event that a Store adds to the
// report's own (url, source): the named keys of the account that exist,
// how many keys the report revoked there, and the action, "revoked" when
// it revoked any and "reported" when all were revoked already.
func LeakData(named []uuid.UUID, revoked int) map[string]any {
	ids := make([]string, len(named))
	for i, id := range named {
		ids[i] = id.String()
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	action := "reported"
	if revoked > 0 {
		action = "revoked"
	}
	return map[string]any{"action": action, "key_ids": ids, "keys_revoked": revoked}
}

// FirstID returns the least of ids in canonical order (uuid.Nil for none):
// the key_id of a key.leaked event.
func FirstID(ids []uuid.UUID) uuid.UUID {
	if len(ids) == 0 {
		return uuid.Nil
	}
	return slices.MinFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
}

// EventLog collects the events one change call commits, for a caller that
// passes them on (keys.Config.OnEvent) without reading them back. Safe for
// concurrent use.
type EventLog struct {
	mu     sync.Mutex
	events []Event
}

// Add records e; NewEvent calls it for the Audit's Log.
func (l *EventLog) Add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// Reset forgets every event: a backend calls it when a transaction is
// retried or fails, so the log holds only what committed.
func (l *EventLog) Reset() {
	l.mu.Lock()
	l.events = nil
	l.mu.Unlock()
}

// Events returns the events recorded, oldest first.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}
