package sqlitestore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// AccountUsage implements store.Store.
func (s *Store) AccountUsage(ctx context.Context, accountID string, month store.Month) (store.AccountUsage, error) {
	return s.core.AccountUsage(ctx, accountID, month)
}

// UpdateKey implements store.Store.
func (s *Store) UpdateKey(ctx context.Context, accountID string, id uuid.UUID, u store.KeyUpdate, now time.Time) (store.Key, error) {
	return s.core.UpdateKey(ctx, accountID, id, u, now)
}
