package keys

import (
	"context"

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
	turn   chan struct{} // one flush at a time; made by newBook
	unsure *usageBatch   // sent, outcome unknown; guarded by turn
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
	if f.unsure != nil {
		if err := m.addUsage(ctx, f.unsure); err != nil {
			return err
		}
		f.unsure = nil
	}
	ds := m.book.collect()
	if len(ds) == 0 {
		return nil
	}
	b := &usageBatch{id: uuid.New(), deltas: ds}
	if err := m.addUsage(ctx, b); err != nil {
		f.unsure = b
		return err
	}
	return nil
}

// addUsage sends one batch and takes the totals it returns as the new
// bases.
func (m *Manager) addUsage(ctx context.Context, b *usageBatch) error {
	totals, err := m.store.AddUsage(ctx, b.id, b.deltas)
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
