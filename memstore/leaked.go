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
func (s *Store) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	out := []store.Key{}
	if len(ids) == 0 {
		return out, nil
	}
	now = utc(now)
	live := func(k *store.Key) bool { return !k.RevokedAsOf(now) }
	s.mu.Lock()
	defer s.mu.Unlock()
	targets := make(map[uuid.UUID]*store.Key)
	compromised := make(map[string]bool)
	named := make(map[string][]uuid.UUID)
	for _, id := range ids {
		k, ok := s.keys[id]
		if !ok {
			continue
		}
		named[k.AccountID] = append(named[k.AccountID], id)
		if !live(k) {
			continue
		}
		targets[id] = k
		if k.IsRoot {
			compromised[k.AccountID] = true
		}
	}
	if len(compromised) > 0 {
		for acct := range compromised {
			for _, k := range s.byAccount[acct] {
				if live(k) {
					targets[k.ID] = k
				}
			}
		}
	}
	for _, k := range targets {
		at := now
		k.RevokedAt, k.Retiring = &at, false
		if k.IsRoot && s.activeRoot[k.AccountID] == k {
			delete(s.activeRoot, k.AccountID)
		}
		out = append(out, clone(k))
	}
	revoked := make(map[string]int)
	for _, k := range out {
		revoked[k.AccountID]++
	}
	for acct, keyIDs := range named {
		s.eventLocked(ctx, acct, store.EventKeyLeaked, store.FirstID(keyIDs), now, store.LeakData(keyIDs, revoked[acct]))
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

var _ store.HashResolver = (*Store)(nil)

// ResolveHashes implements store.HashResolver.
func (s *Store) ResolveHashes(_ context.Context, hashes []store.Hash) (map[store.Hash]store.Resolved, error) {
	out := make(map[store.Hash]store.Resolved, len(hashes))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range hashes {
		k, ok := s.byHash[h]
		if !ok {
			continue
		}
		r := store.Resolved{Key: clone(k), Account: s.accounts[k.AccountID]}
		if root, ok := s.activeRoot[k.AccountID]; ok {
			r.ActiveRootID = root.ID
		}
		out[h] = r
	}
	return out, nil
}
