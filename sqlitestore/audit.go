package sqlitestore

import (
	"context"
	"time"

	"github.com/keyward/keys/store"
)

// AuditEvents implements store.Store.
func (s *Store) AuditEvents(ctx context.Context, accountID string, after store.EventCursor, limit int) ([]store.Event, error) {
	return s.core.AuditEvents(ctx, accountID, after, limit)
}

// PruneAuditEvents implements store.Store.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	return s.core.PruneAuditEvents(ctx, before)
}
