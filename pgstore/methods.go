package pgstore

// The store.Store methods, delegated to the shared SQL implementation.

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
