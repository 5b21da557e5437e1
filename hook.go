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
	// once per key and threshold.
	EventKeyExpiring = "key.expiring"
	// EventRateLimited: how many requests of the account the rate refused
	// in one minute; sent once the minute is over.
	EventRateLimited = "account.rate_limited"
)

// DefaultEventBuffer is the default Config.EventBuffer.
const DefaultEventBuffer = 1024

// hookItem is one event on its way to the hook; mark, if set, names the
// store setting that makes it once-only across processes and restarts.
type hookItem struct {
	ev   Event
	mark string
}

// eventHook delivers events to Config.OnEvent from one goroutine, so a
// slow or panicking hook never holds up a request: a full buffer drops the
// event and counts it.
type eventHook struct {
	fn      func(Event)
	ch      chan hookItem
	dropped atomic.Uint64

	mu       sync.Mutex
	seen     map[noticeKey]bool     // notices already queued by this process
	refused  map[string]*refusedMin // rate refusals per account this minute
	lastScan int64                  // wall ns of the last expiry scan
}

type noticeKey struct {
	subject string // account ID or key ID
	month   store.Month
	level   int
}

type refusedMin struct {
	minute int64 // Unix minute
	n      int64
}

func newEventHook(fn func(Event), size int) *eventHook {
	return &eventHook{fn: fn, ch: make(chan hookItem, size), seen: make(map[noticeKey]bool), refused: make(map[string]*refusedMin)}
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
// still queued then are dropped. A notice with a mark is delivered only by
// the first process ever to record the mark.
func (m *Manager) hookLoop() {
	for {
		select {
		case <-m.stop:
			return
		case it := <-m.hook.ch:
			if it.mark != "" && !m.markOnce(it.mark, it.ev.ID.String()) {
				continue
			}
			m.callHook(it.ev)
		}
	}
}

// markOnce records name in the store and reports whether this call was
// the first to; on a store error it reports false (a notice missed rather
// than one sent twice) and logs.
func (m *Manager) markOnce(name, value string) bool {
	ctx, cancel := m.storeCtx(m.bgCtx)
	defer cancel()
	got, err := m.store.InitSetting(ctx, name, value)
	if err != nil {
		m.log.Error("keys: recording a notice failed; it is not sent", "mark", name, "err", err)
		return false
	}
	return got == value
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
// that are over, and once a minute scans the cached keys for ones expiring
// within 7 days or 1 day. It never touches the store.
func (m *Manager) hookTick(wall int64) {
	h := m.hook
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
		if key.month != month && key.month != (store.Month{}) {
			delete(h.seen, key)
		}
	}
	scan := wall-h.lastScan >= int64(time.Minute)
	if scan {
		h.lastScan = wall
	}
	h.mu.Unlock()
	if scan {
		queue = append(queue, m.expiringNotices(wall)...)
	}
	for _, it := range queue {
		m.send(it)
	}
}

// expiringNotices finds cached keys whose own expiry (not a grace end) is
// within 7 days or 1 day and not yet noticed by this process.
func (m *Manager) expiringNotices(wall int64) []hookItem {
	type cand struct {
		k     Key
		level int
	}
	var cands []cand
	c := m.cache
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			if e.err != nil || e.key.ExpiresAt == nil {
				continue
			}
			left := e.key.ExpiresAt.UnixNano() - wall
			switch {
			case left <= 0:
			case left <= int64(24*time.Hour):
				cands = append(cands, cand{e.key, 1})
			case left <= int64(7*24*time.Hour):
				cands = append(cands, cand{e.key, 7})
			}
		}
		s.mu.RUnlock()
	}
	var out []hookItem
	h := m.hook
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cd := range cands {
		key := noticeKey{subject: cd.k.ID.String(), level: cd.level}
		if h.seen[key] {
			continue
		}
		h.seen[key] = true
		out = append(out, hookItem{
			ev: notice(EventKeyExpiring, cd.k.AccountID, cd.k.ID, time.Unix(0, wall), map[string]any{
				"expires_at": cd.k.ExpiresAt.UTC(), "within_days": cd.level}),
			mark: markName("expiring", cd.k.ID.String(), fmt.Sprint(cd.level)),
		})
	}
	return out
}

// startHook starts the hook's goroutine when Config.OnEvent is set.
func (m *Manager) startHook() {
	if m.cfg.OnEvent == nil {
		return
	}
	m.hook = newEventHook(m.cfg.OnEvent, m.cfg.EventBuffer)
	go m.hookLoop()
}
