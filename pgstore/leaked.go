package pgstore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// RevokeLeaked implements store.Store.
func (s *Store) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	return s.core.RevokeLeaked(ctx, ids, now)
}

var _ store.HashResolver = (*Store)(nil)

// ResolveHashes implements store.HashResolver.
func (s *Store) ResolveHashes(ctx context.Context, hashes []store.Hash) (map[store.Hash]store.Resolved, error) {
	return s.core.ResolveHashes(ctx, hashes)
}
