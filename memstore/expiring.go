package memstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keyward/keys/store"
)

var _ store.ExpiringLister = (*Store)(nil)

// ListExpiringKeys implements store.ExpiringLister. A memory store has no
// index on the expiry: it looks at every key, which is what a store for tests and
// one process can afford.
func (s *Store) ListExpiringKeys(_ context.Context, after store.ExpiryCursor, limit int, now, until time.Time) ([]store.Key, error) {
	if limit <= 0 {
		return nil, errors.New("memstore: ListExpiringKeys needs a positive limit")
	}
	now, until = utc(now), utc(until)
	page := []store.Key{}
	s.mu.RLock()
	for _, k := range s.keys {
		if k.ExpiresAt == nil || !k.ExpiresAt.After(now) || k.ExpiresAt.After(until) ||
			k.RevokedAsOf(now) || !after.Before(*k) {
			continue
		}
		page = append(page, clone(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(page, store.CompareExpiry)
	if len(page) > limit {
		page = page[:limit]
	}
	return page, nil
}
