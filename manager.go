package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keys/store"
)

// Manager issues, resolves, revokes and meters API keys over a store.Store.
// It is safe for concurrent use. Create it with New and Close it when done,
// so that pending last-used times and usage counts reach the store.
type Manager struct {
	store   store.Store
	cfg     Config
	clock   func() time.Time
	log     *slog.Logger
	format  tokenFormat
	hasher  hasher
	cache   *keyCache
	limiter Limiter
	book    *book

	rootPrefix, childPrefix string
	mono                    *monoClock // the default clock; nil with Config.Clock

	lastUsed lastUsedQueue
	// flushMu is held by a usage flush (write) and by Usage (read), so
	// that Usage never sees a count both pending and stored, or neither.
	flushMu sync.RWMutex

	// cancelSubscribe stops the store.Notifier subscription, if any.
	cancelSubscribe context.CancelFunc
	subscribed      chan struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	stopped   chan struct{}
}

// New returns a Manager over st. Fields of cfg left zero take their
// defaults; an invalid field is an error wrapping ErrInvalidArgument.
// New starts a goroutine that flushes every FlushInterval and, if st
// implements store.Notifier, one that follows its notifications; Close
// stops both.
func New(st store.Store, cfg Config) (*Manager, error) {
	if st == nil {
		return nil, invalidf("nil store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	env := "sk_" + cfg.Environment + "_"
	m := &Manager{
		store:       st,
		cfg:         cfg,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		format:      tokenFormat{prefix: env},
		hasher:      newHasher(cfg.Pepper),
		cache:       newKeyCache(cfg.CacheTTL, cfg.CacheSize),
		book:        newBook(),
		limiter:     cfg.Limiter,
		rootPrefix:  env + "root",
		childPrefix: env + "child",
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
	}
	if m.clock == nil {
		m.mono = newMonoClock()
		m.clock = m.mono.Now
	}
	go m.flushLoop()
	m.subscribe()
	return m, nil
}

// subscribe follows changes made by other processes when the store can
// report them, so their revocations reach this Manager's cache at once
// rather than within CacheTTL.
func (m *Manager) subscribe() {
	n, ok := m.store.(store.Notifier)
	if !ok || m.cache.disabled {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancelSubscribe, m.subscribed = cancel, make(chan struct{})
	go func() {
		defer close(m.subscribed)
		err := n.Subscribe(ctx, m.invalidate)
		if err != nil && !errors.Is(err, context.Canceled) {
			m.log.Error("keys: store notifications stopped; changes by other processes now wait for CacheTTL", "err", err)
		}
	}()
}

// TokenPrefix returns the prefix every token of this Manager starts with:
// "sk_live_" or "sk_test_". An HTTP layer uses it to tell API keys from
// session tokens.
func (m *Manager) TokenPrefix() string { return m.format.prefix }

// Tiers returns a copy of the limits of every configured tier.
func (m *Manager) Tiers() map[Tier]Limits {
	return maps.Clone(m.cfg.Tiers)
}

// Close stops the background flusher and writes pending last-used times
// and usage counts to the store. It is idempotent: later calls return the
// first call's result. After Close, the Manager's methods return ErrClosed.
// Close does not close the store.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.stop)
		<-m.stopped
		if m.cancelSubscribe != nil {
			m.cancelSubscribe()
			<-m.subscribed
		}
		m.closeErr = m.Flush(context.Background())
	})
	return m.closeErr
}

func (m *Manager) checkOpen() error {
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Flush writes pending last-used times and usage counts to the store now.
// The Manager also flushes every Config.FlushInterval and on Close. What
// fails to be written stays pending for the next flush.
func (m *Manager) Flush(ctx context.Context) error {
	return errors.Join(m.flushLastUsed(ctx), m.flushUsage(ctx))
}

func (m *Manager) flushLoop() {
	defer close(m.stopped)
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if m.mono != nil {
				m.mono.reanchor()
			}
			if err := m.Flush(context.Background()); err != nil {
				m.log.Error("keys: flush failed; will retry", "err", err)
			}
			m.sweep()
		}
	}
}

// nowNano returns the current time as UnixNano, the hot path's unit.
func (m *Manager) nowNano() int64 {
	if m.mono != nil {
		return m.mono.nanos()
	}
	return m.clock().UnixNano()
}

// invalidate drops what the cache holds for the account, or everything for
// "".
func (m *Manager) invalidate(accountID string) {
	if accountID == "" {
		m.cache.invalidateAll()
		return
	}
	m.cache.invalidateAccount(accountID)
}

// mapStoreErr turns a store sentinel into the Manager's own for the thing
// the call was about, and wraps anything else with context.
func mapStoreErr(err error, notFound error, what string) error {
	switch {
	case err == nil:
		return nil
	case notFound != nil && errors.Is(err, store.ErrNotFound):
		return notFound
	default:
		return fmt.Errorf("keys: %s: %w", what, err)
	}
}
