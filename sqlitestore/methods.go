package sqlitestore

// The store.Store methods, delegated to the shared SQL implementation.
// They are written out rather than promoted from an embedded core: the core
// is internal, so embedding it would put an unusable exported field in this
// package's API and leave these methods out of its documentation, and each
// backend keeps a place for what only it does around a call.

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	return s.core.CreateAccount(ctx, a)
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, id string) (store.Account, error) {
	return s.core.Account(ctx, id)
}

// UpdateAccount implements store.Store.
func (s *Store) UpdateAccount(ctx context.Context, id string, u store.AccountUpdate) error {
	return s.core.UpdateAccount(ctx, id, u)
}

// ReplaceRootKey implements store.Store.
func (s *Store) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	return s.core.ReplaceRootKey(ctx, root, expect, now)
}

// InsertChildKey implements store.Store.
func (s *Store) InsertChildKey(ctx context.Context, k store.Key) error {
	return s.core.InsertChildKey(ctx, k)
}

// RevokeKey implements store.Store.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	return s.core.RevokeKey(ctx, id, now)
}

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, id uuid.UUID) (store.Key, error) {
	return s.core.Key(ctx, id)
}

// ResolveHash implements store.Store.
func (s *Store) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	return s.core.ResolveHash(ctx, h)
}

// ActiveRootKey implements store.Store.
func (s *Store) ActiveRootKey(ctx context.Context, accountID string) (store.Key, error) {
	return s.core.ActiveRootKey(ctx, accountID)
}

// ListKeys implements store.Store.
func (s *Store) ListKeys(ctx context.Context, accountID string) ([]store.Key, error) {
	return s.core.ListKeys(ctx, accountID)
}

// RecordLastUsed implements store.Store.
func (s *Store) RecordLastUsed(ctx context.Context, batch []store.LastUsed) error {
	return s.core.RecordLastUsed(ctx, batch)
}

// AddUsage implements store.Store.
func (s *Store) AddUsage(ctx context.Context, flushID uuid.UUID, batch []store.UsageDelta) ([]store.UsageTotal, error) {
	return s.core.AddUsage(ctx, flushID, batch)
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, accountID string, keyID uuid.UUID, month store.Month) (store.UsageTotal, error) {
	return s.core.Usage(ctx, accountID, keyID, month)
}

// InitSetting implements store.Store.
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	return s.core.InitSetting(ctx, name, value)
}

// PruneRevoked implements store.Store.
func (s *Store) PruneRevoked(ctx context.Context, before time.Time) (int, error) {
	return s.core.PruneRevoked(ctx, before)
}

// ListKeysPage implements store.Store.
func (s *Store) ListKeysPage(ctx context.Context, accountID string, after store.KeyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	return s.core.ListKeysPage(ctx, accountID, after, limit, includeRevoked, now)
}

var _ store.ExpiringLister = (*Store)(nil)

// ListExpiringKeys implements store.ExpiringLister, from an index on the
// expiry.
func (s *Store) ListExpiringKeys(ctx context.Context, after store.ExpiryCursor, limit int, now, until time.Time) ([]store.Key, error) {
	return s.core.ListExpiringKeys(ctx, after, limit, now, until)
}
