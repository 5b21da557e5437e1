package keys

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// usageFlusher makes usage flushes count exactly once. Each batch goes to
// store.AddUsage with a flush ID of its own. A batch whose call failed may
// have committed all the same (the reply was lost), so it is kept as it
// is, with its ID: the next flush sends that same batch first, and the
// store, finding the ID, adds nothing if it had. New counts wait in the
// book (merged per key, so an outage grows memory by the keys used, not by
// the flushes) until the unsure batch has gone through; they are never
// merged into it, or the retry would count them under an applied ID.
type usageFlusher struct {
	turn chan struct{} // one flush at a time; made by newBook
	// unsure is a batch sent whose outcome is unknown. It is written only
	// while holding turn, and under mu, so that Shutdown can count it
	// while a stuck flush holds turn.
	mu     sync.Mutex
	unsure *usageBatch
}

// setUnsure records (or, with nil, clears) the batch of unknown outcome.
func (f *usageFlusher) setUnsure(b *usageBatch) {
	f.mu.Lock()
	f.unsure = b
	f.mu.Unlock()
}

// unsureDeltas returns the counts of the batch of unknown outcome, if any.
func (f *usageFlusher) unsureDeltas() []store.UsageDelta {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsure == nil {
		return nil
	}
	return f.unsure.deltas
}

// usageBatch is one AddUsage call.
type usageBatch struct {
	id     uuid.UUID
	deltas []store.UsageDelta
}

// flushUsage writes the counts admitted since the last flush.
func (m *Manager) flushUsage(ctx context.Context) error {
	f := &m.book.flushes
	select {
	case f.turn <- struct{}{}:
		defer func() { <-f.turn }()
	case <-ctx.Done():
		return ctx.Err()
	}
	// Usage reads (under the read lock) never see counts in flight
	// between the book and the store.
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	if f.unsure != nil {
		if err := m.addUsage(ctx, f.unsure); err != nil {
			return err
		}
		f.setUnsure(nil)
	}
	ds := m.book.collect()
	if len(ds) == 0 {
		return nil
	}
	b := &usageBatch{id: uuid.New(), deltas: ds}
	if err := m.addUsage(ctx, b); err != nil {
		f.setUnsure(b)
		return err
	}
	return nil
}

// addUsage sends one batch and takes the totals it returns as the new
// bases.
func (m *Manager) addUsage(ctx context.Context, b *usageBatch) error {
	sctx, cancel := m.storeCtx(ctx)
	totals, err := m.store.AddUsage(sctx, b.id, b.deltas)
	cancel()
	if err != nil {
		return mapStoreErr(err, nil, "adding usage")
	}
	m.book.refresh(b.deltas, totals)
	return nil
}

// unsureLen returns how many counts wait in a batch of unknown outcome.
func (f *usageFlusher) unsureLen() int {
	f.turn <- struct{}{}
	defer func() { <-f.turn }()
	if f.unsure == nil {
		return 0
	}
	return len(f.unsure.deltas)
}
