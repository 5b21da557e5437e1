package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// AccountUsage implements store.Store.
func (s *Store) AccountUsage(_ context.Context, accountID string, month store.Month) (store.AccountUsage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := store.AccountUsage{Account: s.acctUsage[acctUsageKey{accountID, month}], Keys: map[uuid.UUID]int64{}}
	for id := range s.byAccount[accountID] {
		if n, ok := s.keyUsage[usageKey{id, month}]; ok {
			u.Keys[id] = n
		}
	}
	return u, nil
}

// UpdateKey implements store.Store.
func (s *Store) UpdateKey(_ context.Context, accountID string, id uuid.UUID, u store.KeyUpdate, now time.Time) (store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok || k.AccountID != accountID {
		return store.Key{}, fmt.Errorf("memstore: key %s of account %q: %w", id, accountID, store.ErrNotFound)
	}
	if k.RevokedAsOf(utc(now)) {
		return clone(k), fmt.Errorf("memstore: key %s: %w", id, store.ErrRevoked)
	}
	// normalize copies the new pointer values, so the stored row shares no
	// memory with u.
	n := *k
	if u.Name.Set {
		n.Name = u.Name.Value
	}
	if u.ExpiresAt.Set {
		n.ExpiresAt = u.ExpiresAt.Value
	}
	if u.RequestsPerMonth.Set {
		n.RequestsPerMonth = u.RequestsPerMonth.Value
	}
	if u.RequestsPerMinute.Set {
		n.RequestsPerMinute = u.RequestsPerMinute.Value
	}
	if u.Scopes.Set {
		n.Scopes = u.Scopes.Value
	}
	if u.Metadata.Set {
		n.Metadata = u.Metadata.Value
	}
	if u.AllowedNetworks.Set {
		n.AllowedNetworks = u.AllowedNetworks.Value
	}
	n = normalize(n)
	*k = n
	return clone(k), nil
}
