package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// auditTests are the cases of the audit events every change writes.
var auditTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AuditOneEventPerChange", testAuditOneEventPerChange},
	{"AuditFailedChangeWritesNone", testAuditFailedChangeWritesNone},
	{"AuditHostileText", testAuditHostileText},
	{"AuditEventsPaging", testAuditEventsPaging},
	{"AuditDeletedAccountAndPrune", testAuditDeletedAccountAndPrune},
}

// auditCtx is a context whose changes are made by an API key from a client.
func auditCtx(t *testing.T) context.Context {
	return store.WithAudit(ctx(t), store.Audit{ActorType: store.ActorAPIKey, ActorID: "k-1", IP: "203.0.113.9", UserAgent: "curl/8"})
}

// allEvents returns every event of the account, newest first.
func allEvents(t *testing.T, s store.Store, account string) []store.Event {
	t.Helper()
	evs, err := s.AuditEvents(ctx(t), account, store.EventCursor{}, 1000)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	return evs
}

// expectOne checks that the account has exactly one event more than before,
// of type typ about keyID, and returns its data.
func expectOne(t *testing.T, s store.Store, account string, before int, typ string, keyID uuid.UUID) map[string]any {
	t.Helper()
	evs := allEvents(t, s, account)
	if len(evs) != before+1 {
		for _, e := range evs {
			t.Logf("event %s %s", e.Type, e.Data)
		}
		t.Fatalf("after a %s change the account has %d events, want %d", typ, len(evs), before+1)
	}
	var newest store.Event
	for _, e := range evs {
		if e.ID != uuid.Nil && (newest.ID == uuid.Nil || store.CompareEvents(e, newest) < 0) {
			newest = e
		}
	}
	e := evs[0]
	if e.ID != newest.ID {
		t.Fatalf("events not newest first: first %s, newest %s", e.ID, newest.ID)
	}
	if e.Type != typ || e.KeyID != keyID || e.AccountID != account {
		t.Fatalf("event = %s key %s account %q; want %s key %s account %q", e.Type, e.KeyID, e.AccountID, typ, keyID, account)
	}
	if e.ActorType != store.ActorAPIKey || e.ActorID != "k-1" || e.IP != "203.0.113.9" || e.UserAgent != "curl/8" {
		t.Fatalf("event actor = %q %q %q %q", e.ActorType, e.ActorID, e.IP, e.UserAgent)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatalf("event data %q: %v", e.Data, err)
	}
	return data
}

func wantData(t *testing.T, data map[string]any, key string, want any) {
	t.Helper()
	got, ok := data[key]
	if !ok {
		t.Fatalf("data %v has no %q", data, key)
	}
	if f, isNum := got.(float64); isNum {
		got = int(f)
	}
	if got != want {
		t.Fatalf("data[%q] = %v (%T), want %v (%T)", key, got, got, want, want)
	}
}

func testAuditOneEventPerChange(t *testing.T, s store.Store) {
	c := auditCtx(t)
	const acct = "audit"
	n := 0
	step := func(typ string, keyID uuid.UUID) map[string]any {
		t.Helper()
		d := expectOne(t, s, acct, n, typ, keyID)
		n++
		return d
	}
	if err := s.CreateAccount(c, store.Account{ID: acct, Tier: "free", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventAccountCreated, uuid.Nil), "tier", "free")

	tier := "pro"
	if err := s.UpdateAccount(c, acct, store.AccountUpdate{Tier: &tier, UpdatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventAccountTierChanged, uuid.Nil), "tier", "pro")
	yes := true
	if err := s.UpdateAccount(c, acct, store.AccountUpdate{EmailVerified: &yes, UpdatedAt: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventAccountEmailVerified, uuid.Nil), "email_verified", true)

	at := t0.Add(time.Minute)
	root := newRoot(t, acct, at)
	if err := s.ReplaceRootKey(c, root, uuid.Nil, at); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventKeyIssued, root.ID), "is_root", true)

	at = at.Add(time.Minute)
	child := newChild(t, root, at)
	if err := s.InsertChildKey(c, child); err != nil {
		t.Fatal(err)
	}
	d := step(store.EventKeyIssued, child.ID)
	wantData(t, d, "is_root", false)
	wantData(t, d, "root_key_id", root.ID.String())

	at = at.Add(time.Minute)
	root2 := newRoot(t, acct, at)
	end := at.Add(time.Hour)
	if _, err := s.RotateRootKey(c, root2, store.Rotation{Expect: root.ID, Now: at, GraceEnd: end}); err != nil {
		t.Fatal(err)
	}
	d = step(store.EventKeyReissued, root2.ID)
	wantData(t, d, "previous_root_id", root.ID.String())
	wantData(t, d, "children_revoked", 1)
	wantData(t, d, "grace_end", end.Format(time.RFC3339Nano))

	at = at.Add(time.Minute)
	child2 := mustChildCtx(t, s, c, root2, at)
	n++ // its key.issued, checked above for the first child
	if _, err := s.UpdateKey(c, acct, child2.ID, store.KeyUpdate{Name: store.To("renamed")}, at); err != nil {
		t.Fatal(err)
	}
	if fields, _ := step(store.EventKeyUpdated, child2.ID)["fields"].([]any); len(fields) != 1 || fields[0] != "name" {
		t.Fatalf("key.updated fields = %v, want [name]", fields)
	}
	if _, err := s.UpdateKey(c, acct, child2.ID, store.KeyUpdate{}, at); err != nil {
		t.Fatal(err)
	}
	if got := len(allEvents(t, s, acct)); got != n {
		t.Fatalf("an empty update wrote an event: %d events, want %d", got, n)
	}
	if _, err := s.RevokeKey(c, child2.ID, at); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventKeyRevoked, child2.ID), "keys_revoked", 1)
	if _, err := s.RevokeKey(c, child2.ID, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := len(allEvents(t, s, acct)); got != n {
		t.Fatalf("revoking a revoked key wrote an event: %d events, want %d", got, n)
	}

	at = at.Add(time.Minute)
	leakCtx := store.WithAudit(ctx(t), store.Audit{ActorType: store.ActorAPIKey, ActorID: "k-1", IP: "203.0.113.9", UserAgent: "curl/8",
		Data: map[string]string{"url": "https://github.com/x/y/blob/main/a.env", "source": "content"}})
	if _, err := s.RevokeLeaked(leakCtx, []uuid.UUID{root2.ID, child2.ID, root2.ID}, at); err != nil {
		t.Fatal(err)
	}
	d = step(store.EventKeyLeaked, store.FirstID([]uuid.UUID{root2.ID, child2.ID}))
	wantData(t, d, "action", "revoked")
	wantData(t, d, "url", "https://github.com/x/y/blob/main/a.env")
	wantData(t, d, "source", "content")
	wantData(t, d, "keys_revoked", 3) // root2 and the two retiring keys
	if ids, _ := d["key_ids"].([]any); len(ids) != 2 {
		t.Fatalf("key_ids = %v, want the two named keys once each", d["key_ids"])
	}
	if _, err := s.RevokeLeaked(leakCtx, []uuid.UUID{root2.ID}, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantData(t, step(store.EventKeyLeaked, root2.ID), "action", "reported")

	// root and child retire until end; root2 and child2 are revoked at
	// at; prune everything revoked by end.
	if got, err := s.PruneRevoked(c, end); err != nil || got != 4 {
		t.Fatalf("PruneRevoked = %d, %v; want 4", got, err)
	}
	wantData(t, step(store.EventKeysPruned, uuid.Nil), "count", 4)
	if _, err := s.PruneRevoked(c, end); err != nil {
		t.Fatal(err)
	}
	if got := len(allEvents(t, s, acct)); got != n {
		t.Fatalf("a prune that deleted nothing wrote an event: %d events, want %d", got, n)
	}

	if err := s.DeleteAccount(c, acct); err != nil {
		t.Fatal(err)
	}
	step(store.EventAccountDeleted, uuid.Nil)
}

func mustChildCtx(t *testing.T, s store.Store, c context.Context, root store.Key, at time.Time) store.Key {
	t.Helper()
	k := newChild(t, root, at)
	if err := s.InsertChildKey(c, k); err != nil {
		t.Fatalf("InsertChildKey: %v", err)
	}
	return k
}

func testAuditFailedChangeWritesNone(t *testing.T, s store.Store) {
	c := auditCtx(t)
	mustAccount(t, s, "a")
	root := mustRoot(t, s, "a", t0)
	base := len(allEvents(t, s, "a"))
	tier := "x"
	dup := newRoot(t, "a", t0)
	dup.Hash = root.Hash
	orphan := newChild(t, root, t0)
	orphan.RootKeyID = uuid.New()
	fails := map[string]error{
		"CreateAccount duplicate":   s.CreateAccount(c, store.Account{ID: "a", CreatedAt: t0, UpdatedAt: t0}),
		"UpdateAccount unknown":     s.UpdateAccount(c, "nope", store.AccountUpdate{Tier: &tier, UpdatedAt: t0}),
		"ReplaceRootKey dup hash":   s.ReplaceRootKey(c, dup, uuid.Nil, t0),
		"InsertChildKey no root":    s.InsertChildKey(c, orphan),
		"DeleteAccount unknown":     s.DeleteAccount(c, "nope"),
		"ReplaceRootKey wrong root": s.ReplaceRootKey(c, newRoot(t, "a", t0), uuid.New(), t0),
		"RotateRootKey ExpectNone": func() error {
			_, err := s.RotateRootKey(c, newRoot(t, "a", t0), store.Rotation{ExpectNone: true, Now: t0})
			return err
		}(),
		"RevokeKey unknown":          func() error { _, err := s.RevokeKey(c, uuid.New(), t0); return err }(),
		"RotateRootKey unknown acct": func() error { _, err := s.RotateRootKey(c, newRoot(t, "zz", t0), store.Rotation{Now: t0}); return err }(),
	}
	for name, err := range fails {
		if err == nil {
			t.Errorf("%s succeeded", name)
		}
	}
	if _, err := s.RevokeLeaked(c, []uuid.UUID{uuid.New()}, t0); err != nil {
		t.Fatal(err)
	}
	if got := len(allEvents(t, s, "a")); got != base {
		t.Fatalf("failed changes wrote %d events", got-base)
	}
	for _, acct := range []string{"nope", "zz", ""} {
		if got := len(allEvents(t, s, acct)); got != 0 {
			t.Fatalf("account %q has %d events after failed changes", acct, got)
		}
	}
}

func testAuditHostileText(t *testing.T, s store.Store) {
	ua := "Mozilla\x00/5.0 \xff\xfe" + strings.Repeat("é", 3000)
	c := store.WithAudit(ctx(t), store.Audit{ActorType: store.ActorSession, ActorID: "a\x00b", IP: "::1", UserAgent: ua,
		Data: map[string]string{"url": "x\x00\xc3"}})
	if err := s.CreateAccount(c, store.Account{ID: "h", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatalf("CreateAccount with a hostile User-Agent: %v", err)
	}
	evs := allEvents(t, s, "h")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	for name, v := range map[string]string{"user agent": e.UserAgent, "actor": e.ActorID, "data": string(e.Data)} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("%s %q is not clean UTF-8", name, v)
		}
	}
	if len(e.UserAgent) > 512 || !strings.HasPrefix(e.UserAgent, "Mozilla/5.0") {
		t.Fatalf("user agent not cut to 512 bytes: %d bytes, %.20q", len(e.UserAgent), e.UserAgent)
	}
}

func testAuditEventsPaging(t *testing.T, s store.Store) {
	c := ctx(t) // no Audit: the actor is the system
	if err := s.CreateAccount(c, store.Account{ID: "p", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if evs := allEvents(t, s, "p"); len(evs) != 1 || evs[0].ActorType != store.ActorSystem {
		t.Fatalf("events = %+v, want one by the system", evs)
	}
	tier := "pro"
	// Two events at one instant, so the ID breaks the tie.
	for i := range 6 {
		if err := s.UpdateAccount(c, "p", store.AccountUpdate{Tier: &tier, UpdatedAt: t0.Add(time.Duration(i/2) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	want := allEvents(t, s, "p")
	if len(want) != 7 {
		t.Fatalf("%d events, want 7", len(want))
	}
	if _, err := s.AuditEvents(c, "p", store.EventCursor{}, 0); err == nil {
		t.Fatal("AuditEvents with limit 0 succeeded")
	}
	var got []store.Event
	cur := store.EventCursor{}
	for page := 0; ; page++ {
		evs, err := s.AuditEvents(c, "p", cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		got = append(got, evs...)
		cur = store.CursorAfterEvent(evs[len(evs)-1])
		// A newer event between pages must not show up in a later page.
		if err := s.UpdateAccount(c, "p", store.AccountUpdate{Tier: &tier, UpdatedAt: t0.Add(time.Hour + time.Duration(page)*time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("pages held %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || !got[i].OccurredAt.Equal(want[i].OccurredAt) {
			t.Fatalf("page event %d = %s at %s, want %s at %s", i, got[i].ID, got[i].OccurredAt, want[i].ID, want[i].OccurredAt)
		}
		if i > 0 && store.CompareEvents(want[i-1], want[i]) >= 0 {
			t.Fatalf("events %d and %d out of order", i-1, i)
		}
	}
}

func testAuditDeletedAccountAndPrune(t *testing.T, s store.Store) {
	c := auditCtx(t)
	for i, acct := range []string{"a", "b"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		if err := s.CreateAccount(c, store.Account{ID: acct, CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	// "a" at t0, "b" at t0+1h; delete "a" at t0+2h (its own clock).
	if err := s.DeleteAccount(store.WithAudit(c, store.Audit{ActorType: store.ActorOperator, ActorID: "root", IP: "10.0.0.1", At: t0.Add(2 * time.Hour)}), "a"); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, s, "a")
	if len(evs) != 2 || evs[0].Type != store.EventAccountDeleted || evs[1].Type != store.EventAccountCreated {
		t.Fatalf("deleted account's events: %+v", evs)
	}
	if !evs[0].OccurredAt.Equal(t0.Add(2*time.Hour)) || evs[0].ActorType != store.ActorOperator {
		t.Fatalf("account.deleted at %s by %s, want the Audit's time and actor", evs[0].OccurredAt, evs[0].ActorType)
	}
	// The events before the deletion lose IP and user agent; the
	// deletion's own keeps who erased the account.
	if evs[0].IP != "10.0.0.1" {
		t.Fatalf("account.deleted ip %q, want the deleter's", evs[0].IP)
	}
	for _, e := range evs[1:] {
		if e.IP != "" || e.UserAgent != "" {
			t.Fatalf("a deleted account's event keeps ip %q, user agent %q", e.IP, e.UserAgent)
		}
	}
	if b := allEvents(t, s, "b"); len(b) != 1 || b[0].IP == "" {
		t.Fatalf("another account's events changed: %+v", b)
	}
	// Prune before t0+1h: only "a"'s creation goes.
	if n, err := s.PruneAuditEvents(c, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneAuditEvents = %d, %v; want 1", n, err)
	}
	if a, b := allEvents(t, s, "a"), allEvents(t, s, "b"); len(a) != 1 || a[0].Type != store.EventAccountDeleted || len(b) != 1 {
		t.Fatalf("after pruning: a %d events, b %d", len(a), len(b))
	}
	if n, err := s.PruneAuditEvents(c, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("second PruneAuditEvents = %d, %v; want 0", n, err)
	}
}
