package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// eventRow is the bun model of keys_audit_events.
type eventRow struct {
	bun.BaseModel `bun:"table:keys_audit_events"`

	ID         uuid.UUID `bun:"id,pk"`
	AccountID  string    `bun:"account_id"`
	Type       string    `bun:"type"`
	OccurredAt dbTime    `bun:"occurred_at"`
	KeyID      uuid.UUID `bun:"key_id"`
	ActorType  string    `bun:"actor_type"`
	ActorID    string    `bun:"actor_id"`
	IP         string    `bun:"ip"`
	UserAgent  string    `bun:"user_agent"`
	Data       string    `bun:"data"`
}

// writeEvent inserts the event of a change inside the change's
// transaction, so the two commit or fail together (one more statement, no
// second transaction). A change method that gains an event (UpdateKey's
// key.updated, say) calls it last in its transaction, with its own time.
func (s *Store) writeEvent(ctx context.Context, tx bun.Tx, accountID, typ string, keyID uuid.UUID, at time.Time, data map[string]any) error {
	if s.noEvents {
		return nil
	}
	e := store.NewEvent(ctx, accountID, typ, keyID, at, data)
	row := eventRow{
		ID: e.ID, AccountID: e.AccountID, Type: e.Type, OccurredAt: someTime(e.OccurredAt), KeyID: e.KeyID,
		ActorType: e.ActorType, ActorID: e.ActorID, IP: e.IP, UserAgent: e.UserAgent, Data: string(e.Data),
	}
	_, err := tx.NewInsert().Model(&row).Exec(ctx)
	return err
}

// AuditEvents implements store.Store with a row-value comparison that the
// (account_id, occurred_at DESC, id DESC) index answers.
func (s *Store) AuditEvents(ctx context.Context, accountID string, after store.EventCursor, limit int) ([]store.Event, error) {
	if limit <= 0 {
		return nil, errors.New("sqlstore: AuditEvents needs a positive limit")
	}
	rows := []eventRow{}
	q := s.rdb.NewSelect().Model(&rows).Where("account_id = ?", accountID)
	if !after.IsZero() {
		q = q.Where("(occurred_at, id) < (?, ?)", someTime(after.OccurredAt), after.ID)
	}
	if err := q.OrderExpr("occurred_at DESC, id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("audit events of account %q", accountID), err)
	}
	out := make([]store.Event, len(rows))
	for i, r := range rows {
		at := r.OccurredAt.ptr()
		out[i] = store.Event{
			ID: r.ID, AccountID: r.AccountID, Type: r.Type, KeyID: r.KeyID,
			ActorType: r.ActorType, ActorID: r.ActorID, IP: r.IP, UserAgent: r.UserAgent, Data: []byte(r.Data),
		}
		if at != nil {
			out[i].OccurredAt = *at
		}
	}
	return out, nil
}

// optTime is a time for event data: nil when t is.
func optTimeData(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// eventsTable holds the audit events.
const eventsTable = "keys_audit_events"

// PruneAuditEvents implements store.Store with one DELETE.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx bun.Tx) error {
		res, err := tx.NewRaw("DELETE FROM "+eventsTable+" WHERE occurred_at < ?", someTime(before)).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, s.wrap("prune audit events", err)
	}
	return int(n), nil
}
