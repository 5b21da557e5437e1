package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Notice types: events of the hook (Config.OnEvent) that are not audit
// events, so never stored as such; data in the README.
const (
	// EventQuotaThreshold: the account's pool reached 80 or 100 percent of
	// its monthly quota; sent once per account, month and threshold,
	// across restarts and processes.
	EventQuotaThreshold = "account.quota_threshold"
	// EventKeyExpiring: a key expires within 7 days, or within 1 day; sent
	// once per key, threshold and expiry, across restarts and processes
	// (a key whose expiry is moved is reminded of the new one). Every
	// key of the store counts, used or not: the Manager looks for them in
	// the store every few minutes (expiring.go) when the store is a
	// store.ExpiringLister, and only among the keys it has cached if not.
	EventKeyExpiring = "key.expiring"
	// EventRateLimited: how many requests of the account the rate refused
	// in one minute; sent once the minute is over.
	EventRateLimited = "account.rate_limited"
)

// DefaultEventBuffer is the default Config.EventBuffer.
const DefaultEventBuffer = 1024

// hookItem is one event on its way to the hook; mark, if set, names the
// store setting that makes it once-only across processes and restarts.
// claim, if set, is that of a key.expiring notice, given up when the
// notice is dropped or its mark cannot be recorded, so that a later scan
// tries again.
type hookItem struct {
	ev    Event
	mark  string
	claim expiryClaim
}

// eventHook delivers events to Config.OnEvent from one goroutine, so a
// slow or panicking hook never holds up a request: a full buffer drops the
// event and counts it.
type eventHook struct {
	fn      func(Event)
	ch      chan hookItem
	dropped atomic.Uint64

	mu       sync.Mutex
	seen     map[noticeKey]bool     // quota notices already queued by this process
	refused  map[string]*refusedMin // rate refusals per account this minute
	lastScan int64                  // wall ns of the last scan of cached keys
	// expiring holds the key.expiring notices this process has queued,
	// until their key expires; it has a lock of its own, not mu.
	expiring *expiryClaims
	// storeScan is when (monotonic ns) the tick loop last asked for a
	// scan of the store; storeScanned, whether it ever did.
	storeScan    int64
	storeScanned bool
	// scanDue wakes the store scan's goroutine (a buffer of one: requests
	// made while it runs fold into one); scanned hands its notices to the
	// hook's goroutine, so it waits for a slow hook instead of filling the
	// buffer that changes' events need.
	scanDue chan struct{}
	scanned chan hookItem
	// scanDone is closed when the store scan's goroutine has returned
	// (at once when there is none).
	scanDone chan struct{}
	// lister is the store as a store.ExpiringLister, nil if it is not one.
	lister store.ExpiringLister
}

// noticeKey names a quota notice.
type noticeKey struct {
	subject string // account ID
	month   store.Month
	level   int
}

type refusedMin struct {
	minute int64 // Unix minute
	n      int64
}

func newEventHook(fn func(Event), size int) *eventHook {
	return &eventHook{fn: fn, ch: make(chan hookItem, size), seen: make(map[noticeKey]bool),
		refused: make(map[string]*refusedMin), expiring: newExpiryClaims(),
		scanDue: make(chan struct{}, 1), scanned: make(chan hookItem), scanDone: make(chan struct{})}
}

// DroppedEvents returns how many events the hook (Config.OnEvent) missed
// because its buffer was full: a hook slower than the events it is sent.
func (m *Manager) DroppedEvents() uint64 {
	if m.hook == nil {
		return 0
	}
	return m.hook.dropped.Load()
}

// send queues it without blocking, or drops it.
func (m *Manager) send(it hookItem) {
	select {
	case m.hook.ch <- it:
	default:
		m.hook.unclaim(it.claim)
		if n := m.hook.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8 … drops
			m.log.Warn("keys: event hook too slow; events dropped", "dropped", n, "type", it.ev.Type)
		}
	}
}

// emitLog passes the events a change committed to the hook.
func (m *Manager) emitLog(l *store.EventLog) {
	for _, e := range l.Events() {
		m.send(hookItem{ev: eventFromStore(e)})
	}
}

// hookLoop calls the hook for each event until the Manager stops; events
// still queued then are dropped.
func (m *Manager) hookLoop() {
	for {
		select {
		case <-m.stop:
			return
		case it := <-m.hook.ch:
			m.deliver(it)
		case it := <-m.hook.scanned:
			m.deliver(it)
		}
	}
}

// deliver calls the hook with it. A notice with a mark is delivered only
// by the first process ever to record the mark.
func (m *Manager) deliver(it hookItem) {
	if it.mark != "" && !m.markOnce(it) {
		return
	}
	m.callHook(it.ev)
}

// markOnce records it.mark in the store and reports whether this call
// was the first to; on a store error it reports false (a notice missed
// rather than one sent twice) and logs. An expiry notice is then claimed
// no more, so the next scan tries it again.
func (m *Manager) markOnce(it hookItem) bool {
	ctx, cancel := m.storeCtx(m.bgCtx)
	defer cancel()
	got, err := m.store.InitSetting(ctx, it.mark, it.ev.ID.String())
	if err != nil {
		m.hook.unclaim(it.claim)
		m.log.Error("keys: recording a notice failed; it is not sent", "type", it.ev.Type, "mark", it.mark, "err", err)
		return false
	}
	return got == it.ev.ID.String()
}

func (m *Manager) callHook(e Event) {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("keys: event hook panicked", "type", e.Type, "panic", fmt.Sprint(p))
		}
	}()
	m.hook.fn(e)
}

// notice builds a hook-only event by the system.
func notice(typ, account string, keyID uuid.UUID, at time.Time, data map[string]any) Event {
	raw, _ := json.Marshal(data)
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return Event{ID: id, Type: typ, AccountID: account, OccurredAt: at.UTC(), KeyID: keyID,
		Actor: EventActor{Type: ActorSystem}, Data: raw}
}

// markName is the setting that makes a notice once-only: short enough for
// any account ID.
func markName(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "keys.notice." + hex.EncodeToString(h.Sum(nil)[:20])
}

// observe looks at a decision for the hook's notices: quota thresholds and
// rate refusals. It costs a comparison unless one applies.
func (m *Manager) observe(k *Key, d *Decision, wall int64) {
	h := m.hook
	rateLimited := d.Reason == ErrRateLimited
	level := 0
	if d.poolLimit > 0 {
		switch used := d.poolLimit - d.poolLeft; {
		case d.poolLeft <= 0:
			level = 100
		case used*5 >= d.poolLimit*4:
			level = 80
		}
	}
	if level == 0 && !rateLimited {
		return
	}
	at := time.Unix(0, wall).UTC()
	month := store.MonthOf(at)
	var queue []hookItem
	h.mu.Lock()
	if rateLimited {
		minute := wall / int64(time.Minute)
		r := h.refused[k.AccountID]
		if r == nil {
			r = &refusedMin{minute: minute}
			h.refused[k.AccountID] = r
		}
		if r.minute != minute {
			queue = append(queue, refusedNotice(k.AccountID, r))
			r.minute, r.n = minute, 0
		}
		r.n++
	}
	for lv := 80; lv <= level; lv += 20 {
		key := noticeKey{subject: k.AccountID, month: month, level: lv}
		if h.seen[key] {
			continue
		}
		h.seen[key] = true
		queue = append(queue, hookItem{
			ev: notice(EventQuotaThreshold, k.AccountID, uuid.Nil, at, map[string]any{
				"percent": lv, "month": month.String(), "used": d.poolLimit - d.poolLeft, "quota": d.poolLimit}),
			mark: markName("quota", k.AccountID, month.String(), fmt.Sprint(lv)),
		})
	}
	h.mu.Unlock()
	for _, it := range queue {
		m.send(it)
	}
}

func refusedNotice(account string, r *refusedMin) hookItem {
	start := time.Unix(r.minute*60, 0).UTC()
	return hookItem{ev: notice(EventRateLimited, account, uuid.Nil, start.Add(time.Minute),
		map[string]any{"minute": start, "refused": r.n})}
}

// hookTick runs in the tick loop: it sends the rate summaries of minutes
// that are over, once a minute scans the cached keys for ones expiring
// within 7 days or 1 day, and every expiryScanEvery asks the store scan's
// goroutine to look for them in the store. It never touches the store.
func (m *Manager) hookTick(now instant) {
	h := m.hook
	wall := now.wall
	minute := wall / int64(time.Minute)
	var queue []hookItem
	h.mu.Lock()
	for acct, r := range h.refused {
		if r.minute < minute {
			if r.n > 0 {
				queue = append(queue, refusedNotice(acct, r))
			}
			delete(h.refused, acct)
		}
	}
	month := store.MonthOf(time.Unix(0, wall))
	for key := range h.seen {
		if key.month != month {
			delete(h.seen, key)
		}
	}
	scan := wall-h.lastScan >= int64(time.Minute)
	if scan {
		h.lastScan = wall
	}
	storeScan := !h.storeScanned || now.mono-h.storeScan >= int64(expiryScanEvery)
	if storeScan {
		h.storeScan, h.storeScanned = now.mono, true
	}
	h.mu.Unlock()
	if scan {
		h.expiring.forget(wall)
		queue = append(queue, m.expiringNotices(wall)...)
	}
	for _, it := range queue {
		m.send(it)
	}
	if storeScan && h.lister != nil {
		select {
		case h.scanDue <- struct{}{}:
		default: // a scan is still running or due: it will do
		}
	}
}

// expiringNotices finds cached keys whose own expiry (not a grace end) is
// within 7 days or 1 day and not yet noticed by this process. The store
// scan finds them too, and every key besides; this one costs no store
// read, and notices a key in use within a minute rather than within
// expiryScanEvery. The claims keep the two from sending one notice twice.
func (m *Manager) expiringNotices(wall int64) []hookItem {
	var cands []expiringKey
	c := m.cache
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			if e.err == nil && e.key.ExpiresAt != nil {
				cands = append(cands, expiringKey{id: e.key.ID, account: e.key.AccountID,
					expiresAt: *e.key.ExpiresAt, revokedAt: e.key.RevokedAt})
			}
		}
		s.mu.RUnlock()
	}
	var out []hookItem
	h := m.hook
	for i := range cands {
		if it, ok := h.claim(&cands[i], wall); ok {
			out = append(out, it)
		}
	}
	return out
}

// startHook starts the hook's goroutine when Config.OnEvent is set, and
// the store scan's when the store is a store.ExpiringLister; without one,
// only cached keys get key.expiring notices.
func (m *Manager) startHook() {
	if m.cfg.OnEvent == nil {
		return
	}
	m.hook = newEventHook(m.cfg.OnEvent, m.cfg.EventBuffer)
	go m.hookLoop()
	if el, ok := m.store.(store.ExpiringLister); ok {
		m.hook.lister = el
		go m.expiryLoop()
	} else {
		close(m.hook.scanDone) // no scan to wait for
	}
}
