package keys

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// lastUsedQueue holds the entries whose last-used time changed since the
// last flush. An entry joins it at most once per flush (its dirty flag), so
// the hot path takes this lock about once per key per FlushInterval, not
// once per request.
type lastUsedQueue struct {
	mu      sync.Mutex
	entries []*entry
}

// touch records that e authenticated at now (wall UnixNano).
func (q *lastUsedQueue) touch(e *entry, now int64) {
	sec := now / int64(time.Second)
	if e.lastUsed.Load() >= sec {
		return
	}
	e.lastUsed.Store(sec)
	if !e.dirty.Swap(true) {
		q.mu.Lock()
		q.entries = append(q.entries, e)
		q.mu.Unlock()
	}
}

func (q *lastUsedQueue) drain() []*entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.entries
	q.entries = nil
	return out
}

func (q *lastUsedQueue) requeue(es []*entry) {
	for _, e := range es {
		if !e.dirty.Swap(true) {
			q.mu.Lock()
			q.entries = append(q.entries, e)
			q.mu.Unlock()
		}
	}
}

func (m *Manager) flushLastUsed(ctx context.Context) error {
	es := m.lastUsed.drain()
	if len(es) == 0 {
		return nil
	}
	latest := make(map[uuid.UUID]int64, len(es))
	for _, e := range es {
		// Clear the flag before reading the time: a use racing with this
		// flush then queues the entry again rather than being lost.
		e.dirty.Store(false)
		if at := e.lastUsed.Load(); at > latest[e.key.ID] {
			latest[e.key.ID] = at
		}
	}
	batch := make([]store.LastUsed, 0, len(latest))
	for id, at := range latest {
		batch = append(batch, store.LastUsed{KeyID: id, At: time.Unix(at, 0).UTC()})
	}
	sctx, cancel := m.storeCtx(ctx)
	err := m.store.RecordLastUsed(sctx, batch)
	cancel()
	if err != nil {
		m.lastUsed.requeue(es)
		return mapStoreErr(err, nil, "recording last-used times")
	}
	return nil
}
