package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ io.Closer   = (*Store)(nil) // every store closes the same way
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	accounts map[string]store.Account
	keys     map[uuid.UUID]*store.Key
	byHash   map[store.Hash]*store.Key
	// activeRoot maps an account ID to its unrevoked root key.
	activeRoot map[string]*store.Key
	// byAccount holds every key of an account, so that a reissue or a
	// revocation costs what the account has, not what the whole store
	// ever held.
	byAccount map[string]keySet
	keyUsage  map[usageKey]int64
	acctUsage map[acctUsageKey]int64
	settings  map[string]string
	flushes   flushLedger
}

// keySet is a set of stored keys.
type keySet map[uuid.UUID]*store.Key

// add puts k into the set of group, creating the set as needed.
func add(sets map[string]keySet, group string, k *store.Key) {
	set, ok := sets[group]
	if !ok {
		set = make(keySet)
		sets[group] = set
	}
	set[k.ID] = k
}

// remove takes k out of the set of group, dropping an emptied set.
func remove(sets map[string]keySet, group string, k *store.Key) {
	set := sets[group]
	delete(set, k.ID)
	if len(set) == 0 {
		delete(sets, group)
	}
}

type usageKey struct {
	id    uuid.UUID
	month store.Month
}

type acctUsageKey struct {
	account string
	month   store.Month
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		accounts:   make(map[string]store.Account),
		keys:       make(map[uuid.UUID]*store.Key),
		byHash:     make(map[store.Hash]*store.Key),
		activeRoot: make(map[string]*store.Key),
		byAccount:  make(map[string]keySet),
		keyUsage:   make(map[usageKey]int64),
		acctUsage:  make(map[acctUsageKey]int64),
		settings:   make(map[string]string),
	}
}

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(_ context.Context, a store.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[a.ID]; ok {
		return fmt.Errorf("memstore: account %q: %w", a.ID, store.ErrConflict)
	}
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	s.accounts[a.ID] = a
	return nil
}

// Account implements store.Store.
func (s *Store) Account(_ context.Context, id string) (store.Account, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return store.Account{}, fmt.Errorf("memstore: account %q: %w", id, store.ErrNotFound)
	}
	return a, nil
}

// UpdateAccount implements store.Store.
func (s *Store) UpdateAccount(_ context.Context, id string, u store.AccountUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return fmt.Errorf("memstore: account %q: %w", id, store.ErrNotFound)
	}
	if u.Tier != nil {
		a.Tier = *u.Tier
	}
	if u.EmailVerified != nil {
		a.EmailVerified = *u.EmailVerified
	}
	a.UpdatedAt = utc(u.UpdatedAt)
	s.accounts[id] = a
	return nil
}

// ReplaceRootKey implements store.Store.
func (s *Store) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	_, err := s.RotateRootKey(ctx, root, store.Rotation{Expect: expect, Now: now})
	if errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("memstore: active root %s of account %q: %w", expect, root.AccountID, store.ErrNotFound)
	}
	return err
}

// InsertChildKey implements store.Store.
func (s *Store) InsertChildKey(_ context.Context, k store.Key) error {
	if k.IsRoot {
		return fmt.Errorf("memstore: InsertChildKey given a root key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	root, ok := s.activeRoot[k.AccountID]
	if !ok || root.ID != k.RootKeyID {
		return fmt.Errorf("memstore: active root %s of account %q: %w", k.RootKeyID, k.AccountID, store.ErrNotFound)
	}
	if err := s.checkUniqueLocked(&k); err != nil {
		return err
	}
	s.insertLocked(k)
	return nil
}

func (s *Store) checkUniqueLocked(k *store.Key) error {
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("memstore: key id %s: %w", k.ID, store.ErrConflict)
	}
	if _, ok := s.byHash[k.Hash]; ok {
		return fmt.Errorf("memstore: key hash: %w", store.ErrConflict)
	}
	return nil
}

func (s *Store) insertLocked(k store.Key) {
	k = normalize(k)
	p := &k
	s.keys[k.ID] = p
	s.byHash[k.Hash] = p
	add(s.byAccount, k.AccountID, p)
	if k.IsRoot && k.RevokedAt == nil {
		s.activeRoot[k.AccountID] = p
	}
}

// RevokeKey implements store.Store.
func (s *Store) RevokeKey(_ context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.Key{}, fmt.Errorf("memstore: key %s: %w", id, store.ErrNotFound)
	}
	now = utc(now)
	if k.RevokedAsOf(now) {
		return clone(k), nil
	}
	active := k.IsRoot && k.RevokedAt == nil
	k.RevokedAt, k.Retiring = &now, false
	switch {
	case active:
		delete(s.activeRoot, k.AccountID)
		s.revokeLocked(k.AccountID, now, func(*store.Key) bool { return true })
	case k.IsRoot:
		s.revokeLocked(k.AccountID, now, func(c *store.Key) bool { return c.RootKeyID == id })
	}
	return clone(k), nil
}

// revokeLocked sets RevokedAt = at on every key of the account that is not
// revoked as of now and that match selects.
func (s *Store) revokeLocked(account string, now time.Time, match func(*store.Key) bool) {
	for _, k := range s.byAccount[account] {
		if !k.RevokedAsOf(now) && match(k) {
			k.RevokedAt, k.Retiring = &now, false
		}
	}
}

// Key implements store.Store.
func (s *Store) Key(_ context.Context, id uuid.UUID) (store.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	if !ok {
		return store.Key{}, fmt.Errorf("memstore: key %s: %w", id, store.ErrNotFound)
	}
	return clone(k), nil
}

// ResolveHash implements store.Store.
func (s *Store) ResolveHash(_ context.Context, h store.Hash) (store.Resolved, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.byHash[h]
	if !ok {
		return store.Resolved{}, fmt.Errorf("memstore: key hash: %w", store.ErrNotFound)
	}
	r := store.Resolved{Key: clone(k), Account: s.accounts[k.AccountID]}
	if root, ok := s.activeRoot[k.AccountID]; ok {
		r.ActiveRootID = root.ID
	}
	return r, nil
}

// ActiveRootKey implements store.Store.
func (s *Store) ActiveRootKey(_ context.Context, accountID string) (store.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.activeRoot[accountID]
	if !ok {
		return store.Key{}, fmt.Errorf("memstore: active root of account %q: %w", accountID, store.ErrNotFound)
	}
	return clone(k), nil
}

// ListKeys implements store.Store.
func (s *Store) ListKeys(_ context.Context, accountID string) ([]store.Key, error) {
	s.mu.RLock()
	out := []store.Key{}
	for _, k := range s.byAccount[accountID] {
		out = append(out, clone(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b store.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
	return out, nil
}

// RecordLastUsed implements store.Store.
func (s *Store) RecordLastUsed(_ context.Context, batch []store.LastUsed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range batch {
		k, ok := s.keys[u.KeyID]
		if !ok {
			continue
		}
		if k.LastUsedAt == nil || utc(u.At).After(*k.LastUsedAt) {
			at := utc(u.At)
			k.LastUsedAt = &at
		}
	}
	return nil
}

// AddUsage implements store.Store.
func (s *Store) AddUsage(_ context.Context, flushID uuid.UUID, batch []store.UsageDelta) ([]store.UsageTotal, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.UsageTotal, len(batch))
	if !s.flushes.record(flushID, time.Now()) {
		for i, d := range batch {
			out[i] = store.UsageTotal{Key: s.keyUsage[usageKey{d.KeyID, d.Month}], Account: s.acctUsage[acctUsageKey{d.AccountID, d.Month}]}
		}
		return out, nil
	}
	for i, d := range batch {
		ku := usageKey{d.KeyID, d.Month}
		au := acctUsageKey{d.AccountID, d.Month}
		s.keyUsage[ku] += d.N
		s.acctUsage[au] += d.N
		out[i] = store.UsageTotal{Key: s.keyUsage[ku], Account: s.acctUsage[au]}
	}
	return out, nil
}

// Usage implements store.Store.
func (s *Store) Usage(_ context.Context, accountID string, keyID uuid.UUID, month store.Month) (store.UsageTotal, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.UsageTotal{
		Key:     s.keyUsage[usageKey{keyID, month}],
		Account: s.acctUsage[acctUsageKey{accountID, month}],
	}, nil
}

// normalize copies k's pointer fields so the stored row shares no memory
// with the caller, and puts its times in UTC.
func normalize(k store.Key) store.Key {
	k.CreatedAt = utc(k.CreatedAt)
	k.LastUsedAt = utcPtr(k.LastUsedAt)
	k.ExpiresAt = utcPtr(k.ExpiresAt)
	k.RevokedAt = utcPtr(k.RevokedAt)
	if k.RequestsPerMonth != nil {
		v := *k.RequestsPerMonth
		k.RequestsPerMonth = &v
	}
	if k.RequestsPerMinute != nil {
		v := *k.RequestsPerMinute
		k.RequestsPerMinute = &v
	}
	k.Scopes = slices.Clone(k.Scopes)
	k.AllowedNetworks = slices.Clone(k.AllowedNetworks)
	if len(k.Metadata) == 0 {
		k.Metadata = nil
	} else {
		k.Metadata = maps.Clone(k.Metadata)
	}
	return k
}

// clone returns a copy of a stored key that the caller may keep and modify.
func clone(k *store.Key) store.Key { return normalize(*k) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := utc(*t)
	return &v
}

// utc is how the store keeps times: UTC, truncated to the microsecond, as
// the store.Store contract says (and the SQL stores do).
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
