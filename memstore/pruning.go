package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// maxSettingName is the longest setting name store.Store accepts.
const maxSettingName = 128

// InitSetting implements store.Store.
func (s *Store) InitSetting(_ context.Context, name, value string) (string, error) {
	if name == "" || len(name) > maxSettingName {
		return "", fmt.Errorf("memstore: setting name must be 1 to %d bytes", maxSettingName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.settings[name]; ok {
		return v, nil
	}
	s.settings[name] = value
	return value, nil
}

// PruneRevoked implements store.Store.
func (s *Store) PruneRevoked(ctx context.Context, before time.Time) (int, error) {
	before = utc(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	prunable := func(k *store.Key) bool { return k.RevokedAt != nil && !k.RevokedAt.After(before) }
	// A root stays while one of its children stays.
	kept := make(map[*store.Key]bool)
	for _, k := range s.keys {
		if !k.IsRoot && !prunable(k) {
			if root, ok := s.keys[k.RootKeyID]; ok {
				kept[root] = true
			}
		}
	}
	pruned := make(map[uuid.UUID]bool)
	perAccount := make(map[string]int)
	for id, k := range s.keys {
		if !prunable(k) || kept[k] {
			continue
		}
		perAccount[k.AccountID]++
		delete(s.keys, id)
		delete(s.byHash, k.Hash)
		remove(s.byAccount, k.AccountID, k)
		pruned[id] = true
	}
	if len(pruned) > 0 {
		for u := range s.keyUsage {
			if pruned[u.id] {
				delete(s.keyUsage, u)
			}
		}
	}
	for acct, n := range perAccount {
		s.eventLocked(ctx, acct, store.EventKeysPruned, uuid.Nil, time.Time{}, map[string]any{"count": n, "revoked_before": before})
	}
	return len(pruned), nil
}

// ListKeysPage implements store.Store.
func (s *Store) ListKeysPage(_ context.Context, accountID string, after store.KeyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	if limit <= 0 {
		return nil, errors.New("memstore: ListKeysPage needs a positive limit")
	}
	now = utc(now)
	s.mu.RLock()
	page := []store.Key{}
	for _, k := range s.byAccount[accountID] {
		if !after.Before(*k) || (!includeRevoked && k.RevokedAsOf(now)) {
			continue
		}
		page = append(page, clone(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(page, store.CompareKeys)
	if len(page) > limit {
		page = page[:limit]
	}
	return page, nil
}

// Close implements the Close every store of this module has. A memory
// store holds nothing outside the Go heap, so it does nothing and returns
// nil; the Store stays usable.
func (s *Store) Close() error { return nil }
