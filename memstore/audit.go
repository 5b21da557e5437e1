package memstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// eventLocked appends the event a change writes; s.mu is held for writing,
// so the event is part of the change.
func (s *Store) eventLocked(ctx context.Context, accountID, typ string, keyID uuid.UUID, at time.Time, data map[string]any) {
	if s.events == nil {
		s.events = make(map[string][]store.Event)
	}
	s.events[accountID] = append(s.events[accountID], store.NewEvent(ctx, accountID, typ, keyID, at, data))
}

// AuditEvents implements store.Store.
func (s *Store) AuditEvents(_ context.Context, accountID string, after store.EventCursor, limit int) ([]store.Event, error) {
	if limit <= 0 {
		return nil, errors.New("memstore: AuditEvents needs a positive limit")
	}
	s.mu.RLock()
	out := []store.Event{}
	for _, e := range s.events[accountID] {
		if after.Before(e) {
			out = append(out, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, store.CompareEvents)
	return out[:min(limit, len(out))], nil
}

// optTime is a time for event data: nil when t is.
func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// PruneAuditEvents implements store.Store.
func (s *Store) PruneAuditEvents(_ context.Context, before time.Time) (int, error) {
	before = utc(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for acct, evs := range s.events {
		kept := evs[:0]
		for _, e := range evs {
			if e.OccurredAt.Before(before) {
				n++
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			delete(s.events, acct)
		} else {
			s.events[acct] = kept
		}
	}
	return n, nil
}
