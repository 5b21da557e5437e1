package pgstore

import (
	"context"

	"github.com/keyward/keys/store"
)

// AuditEvents implements store.Store.
func (s *Store) AuditEvents(ctx context.Context, accountID string, after store.EventCursor, limit int) ([]store.Event, error) {
	return s.core.AuditEvents(ctx, accountID, after, limit)
}
