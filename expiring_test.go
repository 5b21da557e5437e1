package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// expiringData is the data of a key.expiring notice.
type expiringData struct {
	ExpiresAt  time.Time `json:"expires_at"`
	WithinDays int       `json:"within_days"`
}

func expiringOf(t *testing.T, e keys.Event) expiringData {
	t.Helper()
	var d expiringData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("key.expiring data %s: %v", e.Data, err)
	}
	return d
}

// expiringNotices waits for n key.expiring notices and returns them by
// key ID (a second notice of one key fails).
func (h hookRecorder) expiringNotices(t *testing.T, n int) map[uuid.UUID]keys.Event {
	t.Helper()
	got := map[uuid.UUID]keys.Event{}
	for range n {
		e := h.next(t, keys.EventKeyExpiring)
		if prev, ok := got[e.KeyID]; ok {
			t.Fatalf("two notices for key %s: %s and %s", e.KeyID, prev.Data, e.Data)
		}
		got[e.KeyID] = e
	}
	return got
}

// notices formats key.expiring notices for a failure message.
func notices(evs []keys.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  " + e.KeyID.String() + " " + string(e.Data))
	}
	return b.String()
}

// settle runs a scan of the store on m, then makes a change through m
// whose audit event reaches the hook after every notice that scan handed
// it, and returns the key.expiring notices h received before that event.
func settle(t *testing.T, m *keys.Manager, h hookRecorder, account string) []keys.Event {
	t.Helper()
	if err := keys.ScanStoreExpiring(m); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if err := m.SetTier(ctx(), account, keys.Pro); err != nil {
		t.Fatal(err)
	}
	var out []keys.Event
	for _, e := range h.until(t, keys.EventAccountTierChanged) {
		if e.Type == keys.EventKeyExpiring {
			out = append(out, e)
		}
	}
	return out
}

// expiringKeys issues, through m, the keys the tests below expect notices
// for (soon: expires in 3 days; retiring: expires in 2 days, during its
// grace) and keys that must get none: expiring in 30 days, never, revoked
// outright, revoked by a reissue, and retiring with a grace that ends
// before its expiry.
func expiringKeys(t *testing.T, f *fixture) (soon, retiring keys.Issued) {
	t.Helper()
	day := 24 * time.Hour
	at := func(d time.Duration) *time.Time { v := f.m.Now().Add(d); return &v }
	for _, a := range []string{"acct_1", "acct_2", "acct_3"} {
		f.account(t, a, keys.Pro)
		f.reissue(t, a)
	}
	soon = f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: at(3 * day)})
	f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: at(30 * day)})
	f.child(t, "acct_1", keys.ChildOptions{})
	revoked := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: at(2 * day)})
	if err := f.m.Revoke(ctx(), revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.child(t, "acct_2", keys.ChildOptions{ExpiresAt: at(2 * day)})
	f.reissue(t, "acct_2") // revokes it
	retiring = f.child(t, "acct_3", keys.ChildOptions{ExpiresAt: at(2 * day)})
	f.child(t, "acct_3", keys.ChildOptions{ExpiresAt: at(5 * day)}) // its grace ends first
	if _, err := f.m.Reissue(ctx(), "acct_3", keys.WithGrace(3*day)); err != nil {
		t.Fatal(err)
	}
	return soon, retiring
}

// TestExpiringNoticeForUnusedKey: keys issued by another Manager and never
// used through this one get their 7-day, then their 1-day notice, once
// each, from the store scan that runs soon after New and again once the
// clock has moved; revoked keys get none.
func TestExpiringNoticeForUnusedKey(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	issuer := newFixtureOn(t, st, keys.Config{Clock: clock.Now})
	soon, retiring := expiringKeys(t, issuer)

	h := make(hookRecorder, 100)
	f := newFixtureOn(t, st, keys.Config{Clock: clock.Now, FlushInterval: 5 * time.Millisecond, OnEvent: h.fn})
	got := h.expiringNotices(t, 2)
	for _, iss := range []keys.Issued{soon, retiring} {
		e, ok := got[iss.Key.ID]
		if !ok {
			t.Fatalf("no notice for %s; got %v", iss.Key.ID, got)
		}
		d := expiringOf(t, e)
		if d.WithinDays != 7 || !d.ExpiresAt.Equal(*iss.Key.ExpiresAt) || e.AccountID != iss.Key.AccountID ||
			e.Actor.Type != keys.ActorSystem {
			t.Fatalf("notice %+v %s, want within 7 days of %v", e, e.Data, iss.Key.ExpiresAt)
		}
	}
	if extra := settle(t, f.m, h, "acct_1"); len(extra) != 0 {
		t.Fatalf("notices after the first:%s", notices(extra))
	}

	// 23 hours before soon expires; retiring has expired by then. The
	// tick loop scans again: the clock has moved past the scan period.
	clock.Add(2*24*time.Hour + time.Hour)
	e := h.next(t, keys.EventKeyExpiring)
	if d := expiringOf(t, e); e.KeyID != soon.Key.ID || d.WithinDays != 1 {
		t.Fatalf("notice for %s %s, want %s within 1 day", e.KeyID, e.Data, soon.Key.ID)
	}
	if extra := settle(t, f.m, h, "acct_1"); len(extra) != 0 {
		t.Fatalf("notices after the 1-day one:%s", notices(extra))
	}
	if n := keys.CacheLen(f.m); n != 0 {
		t.Fatalf("the Manager cached %d keys: the notices must not need it to", n)
	}
}

// TestExpiringNoticeOnceAcrossManagers: two Managers over one store send
// each notice once between them, and a third, started later, none again.
// Their tick loops never run (FlushInterval is an hour): the scans are the
// test's, so each is over before its sentinel event.
func TestExpiringNoticeOnceAcrossManagers(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	issuer := newFixtureOn(t, st, keys.Config{Clock: clock.Now})
	soon, retiring := expiringKeys(t, issuer)
	cfg := func(h hookRecorder) keys.Config {
		return keys.Config{Clock: clock.Now, FlushInterval: time.Hour, OnEvent: h.fn}
	}
	h1, h2 := make(hookRecorder, 100), make(hookRecorder, 100)
	m1 := newFixtureOn(t, st, cfg(h1)).m
	m2 := newFixtureOn(t, st, cfg(h2)).m

	count := func(want int) {
		t.Helper()
		perKey := map[uuid.UUID]int{}
		for _, m := range []struct {
			m *keys.Manager
			h hookRecorder
		}{{m1, h1}, {m2, h2}} {
			for _, e := range settle(t, m.m, m.h, "acct_1") {
				if d := expiringOf(t, e); d.WithinDays != want {
					t.Fatalf("notice %s, want within %d days", e.Data, want)
				}
				perKey[e.KeyID]++
			}
		}
		wantKeys := []uuid.UUID{soon.Key.ID}
		if want == 7 {
			wantKeys = append(wantKeys, retiring.Key.ID)
		}
		if len(perKey) != len(wantKeys) {
			t.Fatalf("within %d days: notices %v, want one for each of %v", want, perKey, wantKeys)
		}
		for _, id := range wantKeys {
			if perKey[id] != 1 {
				t.Fatalf("within %d days: %d notices for %s between two Managers, want 1", want, perKey[id], id)
			}
		}
	}
	count(7)
	clock.Add(2*24*time.Hour + time.Hour)
	count(1)

	h3 := make(hookRecorder, 100)
	m3 := newFixtureOn(t, st, cfg(h3)).m
	if extra := settle(t, m3, h3, "acct_1"); len(extra) != 0 {
		t.Fatalf("a restarted Manager sent notices again:%s", notices(extra))
	}
}

// scanStore reports each ListExpiringKeys call, and fails it, or the
// store write that records a notice, on demand.
type scanStore struct {
	store.Store
	failList, failMark atomic.Bool
	listed             chan error
}

func (s *scanStore) ListExpiringKeys(ctx context.Context, after store.ExpiryCursor, limit int, now, until time.Time) ([]store.Key, error) {
	var ks []store.Key
	err := errDown
	if !s.failList.Load() {
		ks, err = s.Store.(store.ExpiringLister).ListExpiringKeys(ctx, after, limit, now, until)
	}
	select {
	case s.listed <- err:
	default:
	}
	return ks, err
}

func (s *scanStore) InitSetting(ctx context.Context, name, value string) (string, error) {
	if s.failMark.Load() && strings.HasPrefix(name, "keys.notice.") {
		return "", errDown
	}
	return s.Store.InitSetting(ctx, name, value)
}

// TestExpiringScanSurvivesStoreErrors: a scan that fails is logged and the
// next one, a scan period later, sends the notice; so does a scan after
// one whose notice could not be recorded.
func TestExpiringScanSurvivesStoreErrors(t *testing.T) {
	mem := memstore.New()
	clock := newFakeClock(start)
	issuer := newFixtureOn(t, mem, keys.Config{Clock: clock.Now})
	soon, retiring := expiringKeys(t, issuer)

	st := &scanStore{Store: mem, listed: make(chan error, 10)}
	st.failList.Store(true)
	logs := &syncBuf{}
	h := make(hookRecorder, 100)
	f := newFixtureOn(t, st, keys.Config{Clock: clock.Now, FlushInterval: 5 * time.Millisecond, OnEvent: h.fn,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	waitListed := func(want error) {
		t.Helper()
		select {
		case err := <-st.listed:
			if !errors.Is(err, want) {
				t.Fatalf("scan's read: %v, want %v", err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no scan of the store")
		}
	}
	waitListed(errDown)
	if err := keys.ScanStoreExpiring(f.m); !errors.Is(err, errDown) {
		t.Fatalf("scan of a failing store: %v", err)
	}
	<-st.listed

	// The store is back, but recording the notices fails: none is sent,
	// and none is given up on either.
	st.failList.Store(false)
	st.failMark.Store(true)
	if extra := settle(t, f.m, h, "acct_1"); len(extra) != 0 {
		t.Fatalf("notices sent without their record:%s", notices(extra))
	}
	<-st.listed
	// Logged by the hook's goroutine before it delivered the sentinel.
	if !strings.Contains(logs.String(), "recording a notice failed") {
		t.Fatalf("logs: %s", logs)
	}

	// A scan period later, the tick loop's scan sends both.
	st.failMark.Store(false)
	clock.Add(5 * time.Minute)
	waitListed(nil)
	got := h.expiringNotices(t, 2)
	if _, ok := got[soon.Key.ID]; !ok {
		t.Fatalf("notices %v, want one for %s", got, soon.Key.ID)
	}
	if _, ok := got[retiring.Key.ID]; !ok {
		t.Fatalf("notices %v, want one for %s", got, retiring.Key.ID)
	}
	// Logged by the scans' goroutine before it ran the scan that found
	// these.
	if !strings.Contains(logs.String(), "scanning the store for expiring keys failed") {
		t.Fatalf("logs: %s", logs)
	}
}

// TestExpiringWithoutLister: over a store that is not a
// store.ExpiringLister (the capability is optional), the Manager cannot
// see unused keys, so it sends no notice for them and logs no error, and
// it still notices the keys it has cached.
func TestExpiringWithoutLister(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	issuer := newFixtureOn(t, st, keys.Config{Clock: clock.Now})
	soon, _ := expiringKeys(t, issuer)

	var logged strings.Builder
	h := make(hookRecorder, 100)
	plain := struct{ store.Store }{st} // hides ListExpiringKeys
	f := newFixtureOn(t, plain, keys.Config{Clock: clock.Now, FlushInterval: time.Hour, OnEvent: h.fn,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	keys.Tick(f.m)
	if got := settle(t, f.m, h, "acct_1"); len(got) != 0 {
		t.Fatalf("notices for keys the Manager cannot have seen:%s", notices(got))
	}
	if _, err := f.m.Authenticate(ctx(), soon.Secret); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute) // the cached keys are scanned once a minute
	keys.Tick(f.m)
	e := h.next(t, keys.EventKeyExpiring)
	if d := expiringOf(t, e); e.KeyID != soon.Key.ID || d.WithinDays != 7 {
		t.Fatalf("notice for %s %s, want %s within 7 days", e.KeyID, e.Data, soon.Key.ID)
	}
	if s := logged.String(); strings.Contains(s, "level=ERROR") {
		t.Fatalf("logged an error: %s", s)
	}
}

// TestExpiringNoticeAfterExpiryMoved: a key whose expiry is moved later
// after its 7-day notice is reminded of the new expiry, once; a scan that
// finds it unchanged sends nothing more.
func TestExpiringNoticeAfterExpiryMoved(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	h := make(hookRecorder, 100)
	f := newFixtureOn(t, st, keys.Config{Clock: clock.Now, FlushInterval: time.Hour, OnEvent: h.fn})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	exp := f.m.Now().Add(3 * 24 * time.Hour)
	k := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp})
	got := settle(t, f.m, h, "acct_1")
	if len(got) != 1 || got[0].KeyID != k.Key.ID {
		t.Fatalf("first scan:%s; want one notice for %s", notices(got), k.Key.ID)
	}
	later := exp.Add(2 * 24 * time.Hour)
	if _, err := f.m.UpdateKey(ctx(), "acct_1", k.Key.ID, keys.KeyUpdate{ExpiresAt: keys.To(&later)}); err != nil {
		t.Fatal(err)
	}
	got = settle(t, f.m, h, "acct_1")
	if len(got) != 1 || got[0].KeyID != k.Key.ID || !expiringOf(t, got[0]).ExpiresAt.Equal(later) {
		t.Fatalf("after moving the expiry:%s; want one notice for %s at %v", notices(got), k.Key.ID, later)
	}
	if got = settle(t, f.m, h, "acct_1"); len(got) != 0 {
		t.Fatalf("a scan with nothing new sent:%s", notices(got))
	}
}
