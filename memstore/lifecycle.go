package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// RotateRootKey implements store.Store.
func (s *Store) RotateRootKey(ctx context.Context, root store.Key, r store.Rotation) (store.Key, error) {
	if !root.IsRoot || root.RootKeyID != root.ID {
		return store.Key{}, fmt.Errorf("memstore: RotateRootKey needs a root key whose RootKeyID is its ID")
	}
	if r.ExpectNone && r.Expect != uuid.Nil {
		return store.Key{}, fmt.Errorf("memstore: RotateRootKey with both Expect and ExpectNone")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[root.AccountID]; !ok {
		return store.Key{}, fmt.Errorf("memstore: account %q: %w", root.AccountID, store.ErrNotFound)
	}
	cur, hasRoot := s.activeRoot[root.AccountID]
	switch {
	case r.Expect != uuid.Nil && (!hasRoot || cur.ID != r.Expect):
		return store.Key{}, fmt.Errorf("memstore: active root of account %q is not %s: %w", root.AccountID, r.Expect, store.ErrConditionFailed)
	case r.ExpectNone && hasRoot:
		return store.Key{}, fmt.Errorf("memstore: account %q has an active root: %w", root.AccountID, store.ErrConditionFailed)
	}
	if err := s.checkUniqueLocked(&root); err != nil {
		return store.Key{}, err
	}
	if hasRoot {
		if root.Name == "" {
			root.Name = cur.Name
		}
		if len(root.Metadata) == 0 {
			root.Metadata = cur.Metadata
		}
	}
	now, end := utc(r.Now), utc(r.GraceEnd)
	children := 0
	for _, k := range s.byAccount[root.AccountID] {
		if k.RevokedAt == nil && !k.IsRoot {
			children++
		}
		switch {
		case k.RevokedAsOf(now):
		case !r.Graceful():
			k.RevokedAt, k.Retiring = &now, false
		case k.RevokedAt == nil || k.RevokedAt.After(end):
			k.RevokedAt, k.Retiring = &end, true
		}
	}
	delete(s.activeRoot, root.AccountID)
	s.insertLocked(root)
	if hasRoot {
		var grace any
		if r.Graceful() {
			grace = end
		}
		s.eventLocked(ctx, root.AccountID, store.EventKeyReissued, root.ID, now, map[string]any{
			"previous_root_id": cur.ID.String(), "children_revoked": children, "grace_end": grace})
	} else {
		s.eventLocked(ctx, root.AccountID, store.EventKeyIssued, root.ID, now, map[string]any{"is_root": true, "root_key_id": root.ID.String(), "expires_at": nil})
	}
	return clone(s.keys[root.ID]), nil
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return fmt.Errorf("memstore: account %q: %w", id, store.ErrNotFound)
	}
	gone := make(map[uuid.UUID]bool)
	for kid, k := range s.byAccount[id] {
		gone[kid] = true
		delete(s.keys, kid)
		delete(s.byHash, k.Hash)
	}
	delete(s.byAccount, id)
	for u := range s.keyUsage {
		if gone[u.id] {
			delete(s.keyUsage, u)
		}
	}
	for u := range s.acctUsage {
		if u.account == id {
			delete(s.acctUsage, u)
		}
	}
	delete(s.activeRoot, id)
	delete(s.accounts, id)
	for i := range s.events[id] {
		s.events[id][i].IP, s.events[id][i].UserAgent = "", ""
	}
	s.eventLocked(ctx, id, store.EventAccountDeleted, uuid.Nil, time.Time{}, map[string]any{})
	return nil
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(_ context.Context, after string, limit int) ([]store.Account, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("memstore: ListAccounts limit %d is not positive", limit)
	}
	s.mu.RLock()
	out := []store.Account{}
	for id, a := range s.accounts {
		if id > after {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b store.Account) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}
