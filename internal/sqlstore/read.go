package sqlstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, id uuid.UUID) (store.Key, error) {
	var row keyRow
	if err := s.rdb.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("key %s", id), err)
	}
	return row.key(), nil
}

// ActiveRootKey implements store.Store. The WHERE clause repeats the
// predicate of the one-active-root partial index so that SQLite uses it.
func (s *Store) ActiveRootKey(ctx context.Context, accountID string) (store.Key, error) {
	var row keyRow
	err := s.rdb.NewSelect().Model(&row).
		Where("account_id = ? AND is_root AND revoked_at IS NULL", accountID).
		Scan(ctx)
	if err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("active root key of account %q", accountID), err)
	}
	return row.key(), nil
}

// ListKeys implements store.Store.
func (s *Store) ListKeys(ctx context.Context, accountID string) ([]store.Key, error) {
	var rows []keyRow
	err := s.rdb.NewSelect().Model(&rows).
		Where("account_id = ?", accountID).
		Order("created_at", "id").
		Scan(ctx)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("list keys of account %q", accountID), err)
	}
	out := make([]store.Key, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}
