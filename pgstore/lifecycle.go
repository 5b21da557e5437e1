package pgstore

import (
	"context"

	"github.com/keyward/keys/store"
)

// RotateRootKey implements store.Store.
func (s *Store) RotateRootKey(ctx context.Context, root store.Key, r store.Rotation) (store.Key, error) {
	return s.core.RotateRootKey(ctx, root, r)
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return s.core.DeleteAccount(ctx, id)
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context, after string, limit int) ([]store.Account, error) {
	return s.core.ListAccounts(ctx, after, limit)
}
