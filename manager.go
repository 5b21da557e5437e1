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
	clock   func() time.Time // wall time, for what is stored
	log     *slog.Logger
	format  tokenFormat
	hasher  hasher
	cache   *keyCache
	guard   *lookupGuard // the forged-token defence; nil with the cache off
	limiter Limiter
	book    *book

	rootPrefix, childPrefix string
	mono                    *monoClock    // the default clock; nil with Config.Clock
	stepped                 *steppedClock // Config.Clock's; nil without

	lastUsed       lastUsedQueue
	lookupsRefused atomic.Int64
	// flushMu is held by a usage flush (write) and by Usage (read), so
	// that Usage never sees a count both pending and stored, or neither.
	flushMu sync.RWMutex

	stats stats      // hot-path counters, read by the metrics (metrics.go)
	tel   *telemetry // nil without a MeterProvider or TracerProvider

	// cancelSubscribe stops the store.Notifier subscription, if any.
	cancelSubscribe context.CancelFunc
	subscribed      chan struct{}

	// bgCtx is the context of background store work (the periodic flush);
	// cancelling it ends a flush stuck past a Shutdown's deadline.
	bgCtx    context.Context
	bgCancel context.CancelFunc

	closed       atomic.Bool
	shuttingDown atomic.Bool
	shutDown     chan struct{} // closed when the first Shutdown has returned
	closeErr     error
	stop         chan struct{}
	loops        sync.WaitGroup

	// hook delivers Config.OnEvent's events; nil without one.
	hook *eventHook
}

// New returns a Manager over st. Fields of cfg left zero take their
// defaults; an invalid field is an error wrapping ErrInvalidArgument.
// New records a fingerprint of Config.Pepper in the store on first use and
// fails with ErrPepperMismatch if a later Manager's pepper differs.
// New starts two goroutines, one that flushes every FlushInterval and one
// that sweeps idle state and refreshes the clock as often, if st
// implements store.Notifier one that follows its notifications, and with
// Config.OnEvent the hook's and the scan for expiring keys; Shutdown and
// Close stop them.
func New(st store.Store, cfg Config) (*Manager, error) {
	if st == nil {
		return nil, invalidf("nil store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkPepper(st, cfg.Pepper, cfg.StoreTimeout); err != nil {
		return nil, err
	}
	tagKey, err := loadTagKey(st, cfg.Pepper, cfg.StoreTimeout)
	if err != nil {
		return nil, err
	}
	env := "sk_" + cfg.Environment + "_"
	m := &Manager{
		store:       st,
		cfg:         cfg,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		format:      tokenFormat{prefix: env, tagger: newTagger(tagKey)},
		hasher:      newHasher(cfg.Pepper),
		cache:       newKeyCache(cfg.CacheTTL, cfg.CacheSize),
		book:        newBook(),
		limiter:     cfg.Limiter,
		rootPrefix:  env + "root",
		childPrefix: env + "child",
		shutDown:    make(chan struct{}),
		stop:        make(chan struct{}),
	}
	if !m.cache.disabled {
		m.guard = newLookupGuard(cfg.LookupRate)
	}
	if m.clock == nil {
		m.mono = newMonoClock()
		m.clock = m.mono.Now
	} else {
		m.stepped = newSteppedClock(m.clock)
	}
	m.stats.on = cfg.MeterProvider != nil
	if m.tel, err = newTelemetry(&cfg, &m.stats); err != nil {
		return nil, fmt.Errorf("keys: registering metrics: %w", err)
	}
	m.bgCtx, m.bgCancel = context.WithCancel(context.Background())
	m.startHook()
	m.loops.Add(2)
	go m.flushLoop()
	go m.tickLoop()
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

// Close is Shutdown without a deadline of its own: the final flush is
// still bounded by Config.StoreTimeout per store call. It is idempotent:
// later calls return the first call's result.
//
// Close does not close the store: the store is the caller's, to close
// after the Manager, once Close (or Shutdown) has returned.
func (m *Manager) Close() error {
	return m.Shutdown(context.Background())
}

// Shutdown stops the Manager as http.Server.Shutdown stops a server: new
// calls return ErrClosed at once, the background goroutines stop, and
// pending last-used times and usage counts are written to the store in a
// final flush bounded by ctx (and by Config.StoreTimeout per store call).
// A periodic flush still running is waited for, within ctx too.
//
// If the final flush fails, Shutdown returns a *FlushError saying how many
// usage counts, requests and last-used times were not written, and logs
// the same numbers; they stay in memory, so calling Flush may still write
// them. A store must return once its ctx is done (every backend of this
// module does); Shutdown relies on that to keep to ctx.
//
// Only the first call shuts down; later calls wait for it (or for their
// own ctx) and return its result. Like Close, Shutdown does not close the
// store.
func (m *Manager) Shutdown(ctx context.Context) error {
	if m.shuttingDown.CompareAndSwap(false, true) {
		m.closeErr = m.shutdown(ctx)
		close(m.shutDown)
		return m.closeErr
	}
	select {
	case <-m.shutDown:
		return m.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) shutdown(ctx context.Context) error {
	m.closed.Store(true)
	defer m.tel.close()
	close(m.stop)
	// Past ctx's end, a periodic flush still stuck in the store is
	// cancelled rather than waited for: its counts are then pending again,
	// and reported below as not written.
	stopCancel := context.AfterFunc(ctx, m.bgCancel)
	m.loops.Wait()
	stopCancel()
	m.bgCancel()
	if m.hook != nil {
		// The scan of expiring keys is off the tick loop (it reads the
		// store); with bgCtx cancelled, a read in flight ends now.
		select {
		case <-m.hook.scanDone:
		case <-ctx.Done():
		}
	}
	if m.cancelSubscribe != nil {
		m.cancelSubscribe()
		// Waited for after the flush, and within ctx: a store can take a
		// while to end a subscription on a dead connection (pgx waits up
		// to 5s on a server that does not answer), and that must delay
		// neither the flush nor the return. A subscription still ending
		// after Shutdown returns only drops cache entries.
		defer func() {
			select {
			case <-m.subscribed:
			case <-ctx.Done():
			}
		}()
	}
	if err := m.flush(ctx); err != nil {
		m.log.Error("keys: final flush failed; these counts are lost unless Flush is called again",
			"usage_counts", err.UsageCounts, "requests", err.Requests, "last_used_times", err.LastUsed, "err", err.Err)
		return err
	}
	return nil
}

func (m *Manager) checkOpen() error {
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Flush writes pending last-used times and usage counts to the store now.
// The Manager also flushes every Config.FlushInterval and on Shutdown and
// Close. What fails to be written stays pending for the next flush, and
// the error is a *FlushError that counts it. Flush may be called after
// Shutdown, to retry a final flush that failed.
func (m *Manager) Flush(ctx context.Context) error {
	if err := m.flush(ctx); err != nil {
		return err
	}
	return nil
}

// flush is Flush with a typed result (a nil *FlushError must not become a
// non-nil error).
func (m *Manager) flush(ctx context.Context) *FlushError {
	start := time.Now()
	err := errors.Join(m.flushLastUsed(ctx), m.flushUsage(ctx))
	m.tel.recordFlush(start, err != nil)
	if err == nil {
		return nil
	}
	fe := m.unwritten()
	fe.Err = err
	return fe
}

// flushLoop flushes every FlushInterval. A flush stuck in the store (each
// call bounded by StoreTimeout) delays only the next flush: the ticker
// drops the ticks it misses, and tickLoop runs on.
func (m *Manager) flushLoop() {
	defer m.loops.Done()
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.flush(m.bgCtx); err != nil {
				m.log.Error("keys: flush failed; will retry",
					"usage_counts", err.UsageCounts, "requests", err.Requests, "last_used_times", err.LastUsed, "err", err.Err)
			}
		}
	}
}

// tickLoop does the Manager's periodic in-memory work: it re-anchors the
// default clock and sweeps idle limit state and stale cache entries. It
// never touches the store, so a hung store cannot stop it.
func (m *Manager) tickLoop() {
	defer m.loops.Done()
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.tick()
		}
	}
}

// tick is one round of tickLoop's work.
func (m *Manager) tick() {
	if m.mono != nil {
		m.mono.reanchor()
	}
	// The hook's scan of cached keys comes before the sweep, which drops
	// the entries past their TTL that it may still report.
	if m.hook != nil {
		m.hookTick(m.now())
	}
	m.sweep()
}

// now reads the clock.
func (m *Manager) now() instant {
	if m.mono != nil {
		return m.mono.now()
	}
	return m.stepped.now()
}

// storeCtx bounds one store call by Config.StoreTimeout. Every store call
// the Manager makes goes through it, so a hung store costs a caller at
// most StoreTimeout, never a goroutine forever.
//
// It also carries the audit facts of the call (withAudit: the context's
// Actor, the Manager's clock), so that every change method writes its
// event with them, and any change the store gains later (UpdateKey's
// key.updated) gets them with no more work here. With an event hook, the
// returned func passes the events the call committed to it. With
// telemetry on, it also starts the call's span and clock, and the returned
// func ends them (see telemetry.storeCall).
func (m *Manager) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.tel != nil {
		return m.tel.storeCall(ctx, m.boundStore)
	}
	return m.boundStore(ctx)
}

// boundStore is storeCtx without telemetry.
func (m *Manager) boundStore(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, log := m.withAudit(ctx)
	var cancel context.CancelFunc
	switch dl, ok := ctx.Deadline(); {
	case m.cfg.StoreTimeout < 0, ok && time.Until(dl) <= m.cfg.StoreTimeout:
		// No timeout, or the caller's deadline is the tighter one: spare
		// the timer.
		cancel = func() {}
	default:
		ctx, cancel = context.WithTimeout(ctx, m.cfg.StoreTimeout)
	}
	if log == nil {
		return ctx, cancel
	}
	return ctx, func() {
		cancel()
		m.emitLog(log)
	}
}

// invalidate drops what the cache holds for the account, or everything for
// "", and every remembered unknown hash (a key may have been made).
func (m *Manager) invalidate(accountID string) {
	if m.guard != nil {
		m.guard.neg.clear()
	}
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
