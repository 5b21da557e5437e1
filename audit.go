package keys

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Actor types: who made a change recorded in the audit trail.
const (
	// ActorSession is a person signed in to the host (Actor.ID: the
	// account ID).
	ActorSession = store.ActorSession
	// ActorAPIKey is a request made with an API key (Actor.ID: the key ID).
	ActorAPIKey = store.ActorAPIKey
	// ActorOperator is someone at the command line (Actor.ID: the OS user).
	ActorOperator = store.ActorOperator
	// ActorSystem is the Manager's own work, and any change made without
	// an Actor in its context.
	ActorSystem = store.ActorSystem
)

// Audit event types; see the README for each type's data.
const (
	EventAccountCreated       = store.EventAccountCreated
	EventAccountTierChanged   = store.EventAccountTierChanged
	EventAccountEmailVerified = store.EventAccountEmailVerified
	EventAccountDeleted       = store.EventAccountDeleted
	EventKeyIssued            = store.EventKeyIssued
	EventKeyReissued          = store.EventKeyReissued
	EventKeyRevoked           = store.EventKeyRevoked
	EventKeyLeaked            = store.EventKeyLeaked
	EventKeyUpdated           = store.EventKeyUpdated
	EventKeysPruned           = store.EventKeysPruned
)

// Actor is who makes the changes done with a context (WithActor): recorded
// in every audit event those changes write. It never holds a secret.
type Actor struct {
	// Type is one of ActorSession, ActorAPIKey, ActorOperator,
	// ActorSystem; "" means ActorSystem.
	Type string
	// ID names the actor (see the types); "" with an API key means KeyID.
	ID string
	// KeyID is the API key of the request, if any.
	KeyID uuid.UUID
	// IP and UserAgent are the client's, "" when unknown. The store keeps
	// them as valid UTF-8 without NUL, cut to 64 and 512 bytes.
	IP        string
	UserAgent string
}

type actorKey struct{}

// WithActor returns ctx carrying a, so that the Manager records a as the
// actor of every change made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor WithActor stored in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

type leakSourceKey struct{}

// WithLeakSource returns ctx carrying where a leak report found its tokens
// (the report's url and source), for the data of the key.leaked events
// RevokeLeaked writes with it.
func WithLeakSource(ctx context.Context, url, source string) context.Context {
	return context.WithValue(ctx, leakSourceKey{}, map[string]string{"url": url, "source": source})
}

// EventActor is the actor of an Event.
type EventActor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Event is one audit event, or a notice of the event hook (Config.OnEvent).
type Event struct {
	// ID is unique (a time-ordered UUID).
	ID        uuid.UUID
	Type      string
	AccountID string
	// OccurredAt is when the change happened, by the Manager's clock.
	OccurredAt time.Time
	// KeyID is the key the event is about; uuid.Nil for none.
	KeyID uuid.UUID
	Actor EventActor
	// IP and UserAgent are the client's, "" when unknown.
	IP        string
	UserAgent string
	// Data is a JSON object whose members depend on Type (README).
	Data json.RawMessage
}

func eventFromStore(e store.Event) Event {
	return Event{
		ID: e.ID, Type: e.Type, AccountID: e.AccountID, OccurredAt: e.OccurredAt.UTC(), KeyID: e.KeyID,
		Actor: EventActor{Type: e.ActorType, ID: e.ActorID}, IP: e.IP, UserAgent: e.UserAgent, Data: e.Data,
	}
}

// AuditEvents returns one page of the account's audit events, newest
// first, and the cursor of the next page ("" after the last). p.Limit is 1
// to MaxPageLimit (0: DefaultPageLimit); p.IncludeRevoked does not apply.
// Paging stays right while events are added: newer events never appear in
// a later page. Events of a deleted account are kept, so an account that
// no longer exists is not an error. A bad limit or cursor is
// ErrInvalidArgument.
func (m *Manager) AuditEvents(ctx context.Context, accountID string, p Page) (events []Event, next string, err error) {
	if err := m.checkOpen(); err != nil {
		return nil, "", err
	}
	limit, err := p.limit()
	if err != nil {
		return nil, "", err
	}
	after, err := decodeEventCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if validAccountID(accountID) != nil {
		return []Event{}, "", nil
	}
	sctx, cancel := m.storeCtx(ctx)
	evs, err := m.store.AuditEvents(sctx, accountID, after, limit+1)
	cancel()
	if err != nil {
		return nil, "", mapStoreErr(err, nil, "reading audit events")
	}
	if len(evs) > limit {
		evs = evs[:limit]
		next = encodeEventCursor(store.CursorAfterEvent(evs[limit-1]))
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = eventFromStore(e)
	}
	return out, next, nil
}

func encodeEventCursor(c store.EventCursor) string { return encodePosition(c.OccurredAt, c.ID) }

func decodeEventCursor(s string) (store.EventCursor, error) {
	at, id, err := decodePosition(s)
	return store.EventCursor{OccurredAt: at, ID: id}, err
}

// withAudit returns ctx carrying the store.Audit of its Actor (the system
// when it has none), stamped with the Manager's clock, and the log that
// collects the events the call commits when an event hook is set.
func (m *Manager) withAudit(ctx context.Context) (context.Context, *store.EventLog) {
	a := store.Audit{ActorType: ActorSystem, At: m.clock().UTC()}
	if act, ok := ActorFrom(ctx); ok {
		a.ActorType, a.ActorID, a.IP, a.UserAgent = act.Type, act.ID, act.IP, act.UserAgent
		if a.ActorType == "" {
			a.ActorType = ActorSystem
		}
		if a.ActorID == "" && act.KeyID != uuid.Nil {
			a.ActorID = act.KeyID.String()
		}
	}
	if d, ok := ctx.Value(leakSourceKey{}).(map[string]string); ok {
		a.Data = d
	}
	if m.hook != nil {
		a.Log = new(store.EventLog)
	}
	return store.WithAudit(ctx, a), a.Log
}

// PruneAuditEvents deletes the audit events older than olderThan (of every
// account, deleted ones included) and returns how many: the retention of
// the audit trail, which otherwise keeps every event. olderThan must not be
// negative (ErrInvalidArgument).
func (m *Manager) PruneAuditEvents(ctx context.Context, olderThan time.Duration) (int, error) {
	return m.prune(ctx, olderThan, m.store.PruneAuditEvents, "pruning audit events")
}
