package keys_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// TestAuditEventsRecordActor checks that the Manager's changes leave their
// events with the context's actor (the system without one), newest first,
// paged.
func TestAuditEventsRecordActor(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro) // no actor: the system
	c := keys.WithActor(ctx(), keys.Actor{Type: keys.ActorSession, ID: "acct_1", IP: "198.51.100.7", UserAgent: "ua/1"})
	root, err := f.m.Reissue(c, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	kc := keys.WithActor(ctx(), keys.Actor{Type: keys.ActorAPIKey, KeyID: root.Key.ID})
	child, err := f.m.IssueChild(kc, "acct_1", keys.ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if _, err := f.m.Reissue(c, "acct_1", keys.WithGrace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if err := f.m.Revoke(c, child.Key.ID); err != nil {
		t.Fatal(err)
	}
	evs, next, err := f.m.AuditEvents(ctx(), "acct_1", keys.Page{})
	if err != nil || next != "" {
		t.Fatalf("AuditEvents = %v, %q, %v", evs, next, err)
	}
	want := []struct {
		typ, actor, actorID string
		key                 uuid.UUID
	}{
		{keys.EventKeyRevoked, keys.ActorSession, "acct_1", child.Key.ID},
		{keys.EventKeyReissued, keys.ActorSession, "acct_1", uuid.Nil},
		{keys.EventKeyIssued, keys.ActorAPIKey, root.Key.ID.String(), child.Key.ID},
		{keys.EventKeyIssued, keys.ActorSession, "acct_1", root.Key.ID},
		{keys.EventAccountCreated, keys.ActorSystem, "", uuid.Nil},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.Type != w.typ || e.Actor.Type != w.actor || e.Actor.ID != w.actorID || (w.key != uuid.Nil && e.KeyID != w.key) {
			t.Fatalf("event %d = %s by %+v about %s; want %s by %s %q about %s", i, e.Type, e.Actor, e.KeyID, w.typ, w.actor, w.actorID, w.key)
		}
	}
	if e := evs[0]; e.IP != "198.51.100.7" || e.UserAgent != "ua/1" || !e.OccurredAt.Equal(start.Add(3*time.Second)) {
		t.Fatalf("revocation event: ip %q ua %q at %s", e.IP, e.UserAgent, e.OccurredAt)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[1].Data, &data); err != nil || data["previous_root_id"] != root.Key.ID.String() || data["grace_end"] == nil {
		t.Fatalf("reissue data %s (%v)", evs[1].Data, err)
	}

	// Paging, two at a time.
	var got []keys.Event
	p := keys.Page{Limit: 2}
	for {
		page, next, err := f.m.AuditEvents(ctx(), "acct_1", p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if len(got) != len(evs) || got[4].ID != evs[4].ID {
		t.Fatalf("paged %d events, want %d in the same order", len(got), len(evs))
	}
	for _, bad := range []keys.Page{{Limit: -1}, {Limit: keys.MaxPageLimit + 1}, {Cursor: "!!"}, {Cursor: "AAAA"}} {
		if _, _, err := f.m.AuditEvents(ctx(), "acct_1", bad); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Fatalf("AuditEvents(%+v) = %v, want ErrInvalidArgument", bad, err)
		}
	}
	// A deleted account's events are kept.
	if err := f.m.DeleteAccount(ctx(), "acct_1"); err != nil {
		t.Fatal(err)
	}
	after, _, err := f.m.AuditEvents(ctx(), "acct_1", keys.Page{Limit: 100})
	if err != nil || len(after) != len(evs)+1 || after[0].Type != keys.EventAccountDeleted {
		t.Fatalf("after deletion: %d events, %v; want %d, newest account.deleted", len(after), err, len(evs)+1)
	}
	// Retention: the clock is at 3s; events before 2.5s (created, two
	// issued, reissued) go.
	if n, err := f.m.PruneAuditEvents(ctx(), 500*time.Millisecond); err != nil || n != 4 {
		t.Fatalf("PruneAuditEvents = %d, %v; want 4", n, err)
	}
	if _, err := f.m.PruneAuditEvents(ctx(), -time.Second); !errors.Is(err, keys.ErrInvalidArgument) {
		t.Fatalf("PruneAuditEvents(-1s) = %v, want ErrInvalidArgument", err)
	}
}

// hookRecorder is an OnEvent that passes events to a channel.
type hookRecorder chan keys.Event

func (h hookRecorder) fn(e keys.Event) { h <- e }

// next returns the next event of type typ, skipping others, or fails after
// a generous bound (the hook runs on its own goroutine).
func (h hookRecorder) next(t *testing.T, typ string) keys.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-h:
			if e.Type == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

// until returns the events before the first of type typ, which it consumes.
func (h hookRecorder) until(t *testing.T, typ string) []keys.Event {
	t.Helper()
	var before []keys.Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-h:
			if e.Type == typ {
				return before
			}
			before = append(before, e)
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestOnEventDeliversAuditEvents(t *testing.T) {
	h := make(hookRecorder, 100)
	f := newFixture(t, keys.Config{OnEvent: h.fn})
	c := keys.WithActor(ctx(), keys.Actor{Type: keys.ActorOperator, ID: "alice"})
	if err := f.m.CreateAccount(c, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	e := h.next(t, keys.EventAccountCreated)
	if e.AccountID != "acct_1" || e.Actor != (keys.EventActor{Type: keys.ActorOperator, ID: "alice"}) {
		t.Fatalf("hook event %+v", e)
	}
	root, err := f.m.Reissue(c, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if e := h.next(t, keys.EventKeyIssued); e.KeyID != root.Key.ID {
		t.Fatalf("hook key.issued about %s, want %s", e.KeyID, root.Key.ID)
	}
	// A failed change sends nothing: the next event is the tier change.
	if _, err := f.m.Reissue(c, "acct_1", keys.IfRoot(uuid.New())); err == nil {
		t.Fatal("conditional reissue succeeded")
	}
	if err := f.m.SetTier(c, "acct_1", keys.Free); err != nil {
		t.Fatal(err)
	}
	if skipped := h.until(t, keys.EventAccountTierChanged); len(skipped) != 0 {
		t.Fatalf("a failed reissue sent %+v", skipped)
	}
}

// TestOnEventBlockingHook checks that a hook that never returns neither
// blocks changes nor requests: events beyond the buffer are dropped and
// counted.
func TestOnEventBlockingHook(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	f := newFixture(t, keys.Config{EventBuffer: 2, OnEvent: func(keys.Event) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}})
	t.Cleanup(func() { close(release) }) // runs before the fixture's Close
	f.account(t, "acct_1", keys.Pro)
	<-entered
	for range 20 {
		if err := f.m.SetTier(ctx(), "acct_1", keys.Pro); err != nil {
			t.Fatal(err)
		}
	}
	root := f.reissue(t, "acct_1")
	k, err := f.m.Authenticate(ctx(), root.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	if got := f.m.DroppedEvents(); got < 18 {
		t.Fatalf("DroppedEvents = %d, want at least 18 of 21 events with a buffer of 2", got)
	}
}

// TestOnEventPanickingHook checks that a panic in the hook is recovered and
// later events are still delivered.
func TestOnEventPanickingHook(t *testing.T) {
	got := make(chan keys.Event, 10)
	f := newFixture(t, keys.Config{OnEvent: func(e keys.Event) {
		if e.Type == keys.EventAccountCreated {
			panic("hook bug")
		}
		got <- e
	}})
	f.account(t, "acct_1", keys.Pro)
	if err := f.m.SetTier(ctx(), "acct_1", keys.Free); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Type != keys.EventAccountTierChanged {
			t.Fatalf("event %s, want the tier change", e.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hook died with its first panic")
	}
}

// TestQuotaNoticeOnceAcrossRestart checks the 80% and 100% notices: each
// once per account and month, also for a new Manager over the same store.
func TestQuotaNoticeOnceAcrossRestart(t *testing.T) {
	st := memstore.New()
	tiers := map[keys.Tier]keys.Limits{"tiny": {RequestsPerMinute: 1000, RequestsPerMonth: 10}}
	clock := newFakeClock(start)
	h := make(hookRecorder, 100)
	m1, err := keys.New(st, keys.Config{Tiers: tiers, Clock: clock.Now, OnEvent: h.fn})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{m: m1, st: st, clock: clock}
	f.account(t, "acct_1", "tiny")
	root := f.reissue(t, "acct_1")
	k, err := m1.Authenticate(ctx(), root.Secret)
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if _, err := m1.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := m1.SetTier(ctx(), "acct_1", "tiny"); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.until(t, keys.EventAccountTierChanged) {
		if e.Type == keys.EventQuotaThreshold {
			t.Fatalf("notice at 70%%: %s", e.Data)
		}
	}
	if _, err := m1.Allow(ctx(), k); err != nil { // 8 of 10
		t.Fatal(err)
	}
	e := h.next(t, keys.EventQuotaThreshold)
	var d struct {
		Percent int    `json:"percent"`
		Month   string `json:"month"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Percent != 80 || d.Month != "2026-03" || e.AccountID != "acct_1" {
		t.Fatalf("notice %s for %q (%v), want 80%% of 2026-03", e.Data, e.AccountID, err)
	}
	if err := m1.Close(); err != nil { // flushes the 8 requests
		t.Fatal(err)
	}

	m2, err := keys.New(st, keys.Config{Tiers: tiers, Clock: clock.Now, OnEvent: h.fn})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	k, err = m2.Authenticate(ctx(), root.Secret)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // 9, 10, then refused
		m2.Allow(ctx(), k)
	}
	e = h.next(t, keys.EventQuotaThreshold)
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Percent != 100 {
		t.Fatalf("notice %s, want 100%%", e.Data)
	}
	// No 80% again, no second 100%: everything before the sentinel.
	m2.Allow(ctx(), k)
	if err := m2.SetTier(ctx(), "acct_1", "tiny"); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.until(t, keys.EventAccountTierChanged) {
		if e.Type == keys.EventQuotaThreshold {
			t.Fatalf("notice repeated: %s", e.Data)
		}
	}
	// A third Manager that never saw the notices does not repeat them.
	m3, err := keys.New(st, keys.Config{Tiers: tiers, Clock: clock.Now, OnEvent: h.fn})
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	k3, err := m3.Authenticate(ctx(), root.Secret)
	if err != nil {
		t.Fatal(err)
	}
	m3.Allow(ctx(), k3)
	if err := m3.SetTier(ctx(), "acct_1", "tiny"); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.until(t, keys.EventAccountTierChanged) {
		if e.Type == keys.EventQuotaThreshold {
			t.Fatalf("notice repeated after a restart: %s", e.Data)
		}
	}
}

// TestExpiringAndRateNotices checks the notices of the tick loop: a key
// expiring within 7 days, then within 1 day, once each, and a summary of a
// minute's rate refusals. The test runs the ticks itself (keys.Tick, the
// loop's own round) on the fake clock, the loop's being an hour apart: a
// real ticker racing the clock's steps could scan between a step and the
// key's caching, and the next scan is due only a minute of the fake clock
// later, which never comes.
func TestExpiringAndRateNotices(t *testing.T) {
	h := make(hookRecorder, 100)
	tiers := map[keys.Tier]keys.Limits{"slow": {RequestsPerMinute: 2, RequestsPerMonth: 1000}}
	f := newFixture(t, keys.Config{Tiers: tiers, FlushInterval: time.Hour, OnEvent: h.fn})
	f.account(t, "acct_1", "slow")
	f.reissue(t, "acct_1")
	exp := start.Add(3 * 24 * time.Hour)
	child, err := f.m.IssueChild(ctx(), "acct_1", keys.ChildOptions{ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.m.Authenticate(ctx(), child.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// The first tick scans the cached keys; later ones once a minute of
	// the Manager's clock.
	keys.Tick(f.m)
	e := h.next(t, keys.EventKeyExpiring)
	if e.KeyID != child.Key.ID || !jsonHas(e.Data, "within_days", 7.0) {
		t.Fatalf("expiring notice %+v %s", e, e.Data)
	}
	refused := 0
	for range 5 {
		if _, err := f.m.Allow(ctx(), k); errors.Is(err, keys.ErrRateLimited) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no refusals")
	}
	f.clock.Add(time.Minute)
	keys.Tick(f.m) // scans again: the key is still cached (the sweep comes after)
	e = h.next(t, keys.EventRateLimited)
	if e.AccountID != "acct_1" || !jsonHas(e.Data, "refused", float64(refused)) {
		t.Fatalf("rate notice %s, want %d refused", e.Data, refused)
	}
	// That scan did not repeat the 7-day notice: nothing before the
	// sentinel, a tier change sent after the tick.
	if err := f.m.SetTier(ctx(), "acct_1", "slow"); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.until(t, keys.EventAccountTierChanged) {
		if e.Type == keys.EventKeyExpiring {
			t.Fatalf("expiring notice repeated: %s", e.Data)
		}
	}
	f.clock.Add(2*24*time.Hour + time.Hour) // 23 hours left
	// The last tick swept the key (CacheTTL): it is cached again here.
	if _, err := f.m.Authenticate(ctx(), child.Secret); err != nil {
		t.Fatal(err)
	}
	keys.Tick(f.m)
	e = h.next(t, keys.EventKeyExpiring)
	if e.KeyID != child.Key.ID || !jsonHas(e.Data, "within_days", 1.0) {
		t.Fatalf("expiring notice %s, want within 1 day", e.Data)
	}
}

func jsonHas(raw []byte, key string, want any) bool {
	var m map[string]any
	return json.Unmarshal(raw, &m) == nil && m[key] == want
}

// TestLeakEventCarriesReport checks the key.leaked event of a report: the
// report's url and source, and "reported" for a report made again.
func TestLeakEventCarriesReport(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	c := keys.WithLeakSource(ctx(), "https://github.com/o/r/blob/main/.env", "content")
	for _, action := range []string{"revoked", "reported"} {
		if _, err := f.m.RevokeLeaked(c, []string{child.Secret}); err != nil {
			t.Fatal(err)
		}
		evs, _, err := f.m.AuditEvents(ctx(), "acct_1", keys.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		e := evs[0]
		if e.Type != keys.EventKeyLeaked || e.KeyID != child.Key.ID || !jsonHas(e.Data, "action", action) ||
			!jsonHas(e.Data, "url", "https://github.com/o/r/blob/main/.env") || !jsonHas(e.Data, "source", "content") {
			t.Fatalf("leak event %s %s, want action %s with the report's url and source", e.Type, e.Data, action)
		}
	}
}
