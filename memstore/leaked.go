package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// RevokeLeaked implements store.Store.
func (s *Store) RevokeLeaked(_ context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	out := []store.Key{}
	if len(ids) == 0 {
		return out, nil
	}
	now = utc(now)
	live := func(k *store.Key) bool { return k.RevokedAt == nil || k.RevokedAt.After(now) }
	s.mu.Lock()
	defer s.mu.Unlock()
	targets := make(map[uuid.UUID]*store.Key)
	compromised := make(map[string]bool)
	for _, id := range ids {
		k, ok := s.keys[id]
		if !ok || !live(k) {
			continue
		}
		targets[id] = k
		if k.IsRoot {
			compromised[k.AccountID] = true
		}
	}
	if len(compromised) > 0 {
		for _, k := range s.keys {
			if compromised[k.AccountID] && live(k) {
				targets[k.ID] = k
			}
		}
	}
	for _, k := range targets {
		at := now
		k.RevokedAt = &at
		if k.IsRoot && s.activeRoot[k.AccountID] == k {
			delete(s.activeRoot, k.AccountID)
		}
		out = append(out, clone(k))
	}
	slices.SortFunc(out, func(a, b store.Key) int {
		if c := cmp.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
	return out, nil
}
