package keys

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// The key.expiring notices (EventKeyExpiring) come from two scans: of the
// cached keys, once a minute in the tick loop (hookTick), and of the
// store, every expiryScanEvery on a goroutine of its own, so that a key
// nobody has used lately (the one its owner most needs reminding of) gets
// its notices too. Both claim a notice in the hook before queueing it, so
// a process queues each once; the mark in the store (markOnce) makes it
// once across processes and restarts.
const (
	// expiryScanEvery is how often, by the Manager's clock, the store is
	// scanned; the first scan runs at the first tick after New.
	expiryScanEvery = 5 * time.Minute
	// expiryScanPage is how many keys one store read returns.
	expiryScanPage = 500
	// expiryWindow is the earliest notice: a key expiring within 7 days.
	expiryWindow = 7 * 24 * time.Hour
)

// expiryClaim names one key.expiring notice: a key, its level, 7 or 1
// (days), and the expiry it is about (Unix µs), so that a key whose expiry
// is moved later is reminded of its new one; hour (of that expiry, in
// Unix hours) places it in expiryClaims. The zero value names none.
type expiryClaim struct {
	key   uuid.UUID
	level int
	exp   int64
	hour  int64
}

// expiryClaims holds the key.expiring notices this process has queued, by
// the hour their key expires, so that forgetting the expired ones costs a
// bucket per hour rather than a walk of every claim: with every key of
// the store in the week's window there may be millions. It has a lock of
// its own so that the scans never hold the hook's lock, which requests
// take (observe), for long.
type expiryClaims struct {
	mu     sync.Mutex
	byHour map[int64]map[expiryClaim]struct{}
}

func newExpiryClaims() *expiryClaims {
	return &expiryClaims{byHour: make(map[int64]map[expiryClaim]struct{})}
}

// add claims c and reports whether it was new.
func (cs *expiryClaims) add(c expiryClaim) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b := cs.byHour[c.hour]
	if b == nil {
		b = make(map[expiryClaim]struct{})
		cs.byHour[c.hour] = b
	} else if _, ok := b[c]; ok {
		return false
	}
	b[c] = struct{}{}
	return true
}

// remove gives up the claim c (if not zero).
func (cs *expiryClaims) remove(c expiryClaim) {
	if c == (expiryClaim{}) {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if b := cs.byHour[c.hour]; b != nil {
		delete(b, c)
		if len(b) == 0 {
			delete(cs.byHour, c.hour)
		}
	}
}

// forget drops the claims of keys expired by wall (Unix ns) an hour ago
// or more: no notice can be due for them again. The spare hour covers a
// store scan that claims with a reading of the clock taken just before
// this one's.
func (cs *expiryClaims) forget(wall int64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for hour := range cs.byHour {
		if (hour+2)*int64(time.Hour) <= wall {
			delete(cs.byHour, hour)
		}
	}
}

// len returns how many claims are held.
func (cs *expiryClaims) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, b := range cs.byHour {
		n += len(b)
	}
	return n
}

// expiringKey is what a scan knows of a key with an expiry.
type expiringKey struct {
	id        uuid.UUID
	account   string
	expiresAt time.Time
	revokedAt *time.Time // the grace end of a retiring key, else nil
}

// expiryLevel returns the notice due for a key expiring at exp, seen at
// wall: 1 within a day, 7 within a week, 0 for none (expired, or later).
// Only the nearer applies: a key first seen with hours left gets the
// 1-day notice alone.
func expiryLevel(exp time.Time, wall int64) int {
	switch left := exp.UnixNano() - wall; {
	case left <= 0:
		return 0
	case left <= int64(24*time.Hour):
		return 1
	case left <= int64(expiryWindow):
		return 7
	}
	return 0
}

// claim returns the notice due for k at wall, unless none is or this
// process has queued it already; then it is claimed. A retiring key whose
// grace ends before its own expiry never reaches that expiry, so it gets
// none: the notice is about a key's own expiry, and the reissue's event
// carries the grace end.
func (h *eventHook) claim(k *expiringKey, wall int64) (hookItem, bool) {
	level := expiryLevel(k.expiresAt, wall)
	if level == 0 || (k.revokedAt != nil && !k.revokedAt.After(k.expiresAt)) {
		return hookItem{}, false
	}
	exp := k.expiresAt.UnixMicro()
	c := expiryClaim{key: k.id, level: level, exp: exp, hour: exp / int64(time.Hour/time.Microsecond)}
	if !h.expiring.add(c) {
		return hookItem{}, false
	}
	return hookItem{
		ev: notice(EventKeyExpiring, k.account, k.id, time.Unix(0, wall), map[string]any{
			"expires_at": k.expiresAt.UTC(), "within_days": level}),
		mark:  markName("expiring", k.id.String(), fmt.Sprint(level), fmt.Sprint(c.exp)),
		claim: c,
	}, true
}

// unclaim gives up the claim c (if not zero): its notice was not
// delivered, so a later scan may queue it again.
func (h *eventHook) unclaim(c expiryClaim) {
	h.expiring.remove(c)
}

// expiryLoop runs the store scans the tick loop asks for until the
// Manager stops. A scan that fails is logged and left to the next one.
// Shutdown waits for it to return (after cancelling bgCtx, which ends a
// read in flight), so it never calls a store its caller has closed.
func (m *Manager) expiryLoop() {
	defer close(m.hook.scanDone)
	for {
		select {
		case <-m.stop:
			return
		case <-m.hook.scanDue:
			if err := m.scanExpiring(); err != nil && !m.closed.Load() {
				m.log.Error("keys: scanning the store for expiring keys failed; will retry", "err", err)
			}
		}
	}
}

// scanExpiring reads, page by page, the store's keys that expire within
// expiryWindow and are not revoked, and hands the hook's goroutine a
// notice for each one due and not yet queued by this process. Each read
// is bounded by StoreTimeout; the first error ends the scan (the next
// starts over: its claims make that cheap). It returns early, without an
// error, when the Manager stops.
func (m *Manager) scanExpiring() error {
	if m.hook == nil || m.hook.lister == nil {
		return nil
	}
	now := m.clock()
	until := now.Add(expiryWindow)
	var after store.ExpiryCursor
	for {
		select {
		case <-m.stop:
			return nil
		default:
		}
		ctx, cancel := m.storeCtx(m.bgCtx)
		ks, err := m.hook.lister.ListExpiringKeys(ctx, after, expiryScanPage, now, until)
		cancel()
		if err != nil {
			return fmt.Errorf("keys: listing expiring keys: %w", err)
		}
		for i := range ks {
			k := &ks[i]
			if k.ExpiresAt == nil { // a store breaking its contract
				continue
			}
			// The listing keeps one now and until; each notice takes the
			// time it is claimed at, so a scan slowed by a slow hook
			// labels each one right and skips a key expired meanwhile.
			cand := expiringKey{id: k.ID, account: k.AccountID, expiresAt: *k.ExpiresAt, revokedAt: k.RevokedAt}
			it, ok := m.hook.claim(&cand, m.clock().UnixNano())
			if !ok {
				continue
			}
			select {
			case m.hook.scanned <- it:
			case <-m.stop:
				return nil
			}
		}
		if len(ks) < expiryScanPage {
			return nil
		}
		after = store.ExpiryCursorAfter(ks[len(ks)-1])
	}
}
