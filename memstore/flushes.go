package memstore

import (
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// flushLedger holds the flush IDs AddUsage applied within
// store.FlushIDRetention.
type flushLedger struct {
	applied   map[uuid.UUID]time.Time
	nextPrune time.Time
}

// record notes id as applied at now and reports whether it is new (the
// nil ID always is, and is not kept). Store.mu must be held for writing.
func (l *flushLedger) record(id uuid.UUID, now time.Time) bool {
	if id == uuid.Nil {
		return true
	}
	if _, ok := l.applied[id]; ok {
		return false
	}
	if l.applied == nil {
		l.applied = make(map[uuid.UUID]time.Time)
	}
	// Prune at most once an hour, so a flush costs O(1) on average.
	if now.After(l.nextPrune) {
		for k, at := range l.applied {
			if now.Sub(at) > store.FlushIDRetention {
				delete(l.applied, k)
			}
		}
		l.nextPrune = now.Add(time.Hour)
	}
	l.applied[id] = now
	return true
}
