package storetest

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// lifecycleTests are the cases of rotation with grace, conditional
// rotation, key restrictions, DeleteAccount and ListAccounts.
var lifecycleTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"KeyRestrictionsRoundTrip", testKeyRestrictionsRoundTrip},
	{"RotateGrace", testRotateGrace},
	{"RotateGraceNeverExtends", testRotateGraceNeverExtends},
	{"RotateWithoutGraceEndsGraces", testRotateWithoutGraceEndsGraces},
	{"RotateConditions", testRotateConditions},
	{"RotateExpectNoneConcurrent", testRotateExpectNoneConcurrent},
	{"RotateDuringGraceConcurrent", testRotateDuringGraceConcurrent},
	{"RotateInheritsNameAndMetadata", testRotateInherits},
	{"RevokeDuringGrace", testRevokeDuringGrace},
	{"DeleteAccount", testDeleteAccount},
	{"ListAccountsPaging", testListAccountsPaging},
}

func rotate(t *testing.T, s store.Store, account string, r store.Rotation) store.Key {
	t.Helper()
	root := newRoot(t, account, r.Now)
	got, err := s.RotateRootKey(ctx(t), root, r)
	if err != nil {
		t.Fatalf("RotateRootKey: %v", err)
	}
	if got.ID != root.ID || !got.IsRoot || got.RevokedAt != nil {
		t.Fatalf("RotateRootKey returned %+v", got)
	}
	return got
}

func wantRevokedAt(t *testing.T, s store.Store, what string, id uuid.UUID, want *time.Time) {
	t.Helper()
	got := mustKey(t, s, id).RevokedAt
	if want == nil {
		if got != nil {
			t.Fatalf("%s: RevokedAt = %v, want none", what, *got)
		}
		return
	}
	wantTime(t, what+" RevokedAt", got, *want)
}

func testKeyRestrictionsRoundTrip(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	k := newChild(t, root, t0)
	k.Scopes = []string{"a:read", "b.write", "c_d-e"}
	k.Metadata = map[string]string{"project": "p1", "team": "ünïcode ✓", "empty": ""}
	k.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	if err := s.InsertChildKey(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	plain := mustChild(t, s, root, t0)
	emptyMD := newChild(t, root, t0)
	emptyMD.Metadata = map[string]string{}
	if err := s.InsertChildKey(ctx(t), emptyMD); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got store.Key) {
		t.Helper()
		if !slices.Equal(got.Scopes, k.Scopes) || !maps.Equal(got.Metadata, k.Metadata) || !slices.Equal(got.AllowedNetworks, k.AllowedNetworks) {
			t.Fatalf("%s: scopes %q metadata %v networks %v, want %q %v %v", what,
				got.Scopes, got.Metadata, got.AllowedNetworks, k.Scopes, k.Metadata, k.AllowedNetworks)
		}
	}
	check("Key", mustKey(t, s, k.ID))
	r, err := s.ResolveHash(ctx(t), k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	check("ResolveHash", r.Key)
	ks, _ := s.ListKeys(ctx(t), "acct_1")
	for _, got := range ks {
		switch got.ID {
		case k.ID:
			check("ListKeys", got)
		case plain.ID, emptyMD.ID, root.ID:
			if got.Scopes != nil || got.Metadata != nil || got.AllowedNetworks != nil {
				t.Fatalf("an unrestricted key came back with scopes %q metadata %v networks %v", got.Scopes, got.Metadata, got.AllowedNetworks)
			}
		}
	}
	// The store keeps its own copy.
	k.Scopes[0], k.Metadata["project"] = "changed", "changed"
	if got := mustKey(t, s, k.ID); got.Scopes[0] != "a:read" || got.Metadata["project"] != "p1" {
		t.Fatal("the store shares the caller's slice or map")
	}
}

// testRotateGrace: the old root and its children retire until the grace
// end, while the new root is the one active root.
func testRotateGrace(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	old := mustRoot(t, s, "acct_1", t0)
	child := mustChild(t, s, old, t0)
	exp := t0.Add(30 * time.Minute)
	early := newChild(t, old, t0)
	early.ExpiresAt = &exp
	if err := s.InsertChildKey(ctx(t), early); err != nil {
		t.Fatal(err)
	}
	dead := mustChild(t, s, old, t0)
	if _, err := s.RevokeKey(ctx(t), dead.ID, t0); err != nil {
		t.Fatal(err)
	}
	now, end := t0.Add(time.Minute), t0.Add(time.Hour)
	root := rotate(t, s, "acct_1", store.Rotation{Now: now, GraceEnd: end})
	wantRevokedAt(t, s, "old root", old.ID, &end)
	wantRevokedAt(t, s, "child", child.ID, &end)
	wantRevokedAt(t, s, "expiring child", early.ID, &end)
	wantRevokedAt(t, s, "revoked child", dead.ID, &t0)
	wantRevokedAt(t, s, "new root", root.ID, nil)
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 1 || roots[0].ID != root.ID {
		t.Fatalf("active roots during the grace: %v", roots)
	}
	got, err := s.ActiveRootKey(ctx(t), "acct_1")
	if err != nil || got.ID != root.ID {
		t.Fatalf("ActiveRootKey during the grace = %v, %v", got.ID, err)
	}
	r, err := s.ResolveHash(ctx(t), child.Hash)
	if err != nil || r.ActiveRootID != root.ID {
		t.Fatalf("ResolveHash of a retiring child: active root %v, %v", r.ActiveRootID, err)
	}
	// A retiring root takes no new children.
	err = s.InsertChildKey(ctx(t), newChild(t, old, now))
	wantErr(t, "InsertChildKey under a retiring root", err, store.ErrNotFound)
}

func testRotateGraceNeverExtends(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	first := mustRoot(t, s, "acct_1", t0)
	end1 := t0.Add(time.Hour)
	second := rotate(t, s, "acct_1", store.Rotation{Now: t0, GraceEnd: end1})
	// A longer grace does not extend the first root's.
	end2 := t0.Add(2 * time.Hour)
	third := rotate(t, s, "acct_1", store.Rotation{Now: t0.Add(time.Second), GraceEnd: end2})
	wantRevokedAt(t, s, "first root", first.ID, &end1)
	wantRevokedAt(t, s, "second root", second.ID, &end2)
	// A shorter one shortens both.
	end3 := t0.Add(10 * time.Minute)
	rotate(t, s, "acct_1", store.Rotation{Now: t0.Add(2 * time.Second), GraceEnd: end3})
	wantRevokedAt(t, s, "first root", first.ID, &end3)
	wantRevokedAt(t, s, "second root", second.ID, &end3)
	wantRevokedAt(t, s, "third root", third.ID, &end3)
	if n := len(activeRoots(t, s, "acct_1")); n != 1 {
		t.Fatalf("%d active roots", n)
	}
}

func testRotateWithoutGraceEndsGraces(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	old := mustRoot(t, s, "acct_1", t0)
	child := mustChild(t, s, old, t0)
	otherRoot := mustRoot(t, s, "acct_2", t0)
	end := t0.Add(time.Hour)
	mid := rotate(t, s, "acct_1", store.Rotation{Now: t0, GraceEnd: end})
	rotate(t, s, "acct_2", store.Rotation{Now: t0, GraceEnd: end})
	now := t0.Add(time.Minute)
	// GraceEnd not after Now is no grace.
	rotate(t, s, "acct_1", store.Rotation{Now: now, GraceEnd: now})
	for what, id := range map[string]uuid.UUID{"old root": old.ID, "child": child.ID, "replaced root": mid.ID} {
		wantRevokedAt(t, s, what, id, &now)
	}
	wantRevokedAt(t, s, "another account's retiring root", otherRoot.ID, &end)
}

func testRotateConditions(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	_, err := s.RotateRootKey(ctx(t), newRoot(t, "nobody", t0), store.Rotation{ExpectNone: true, Now: t0})
	wantErr(t, "RotateRootKey of an unknown account", err, store.ErrNotFound)

	first := rotate(t, s, "acct_1", store.Rotation{ExpectNone: true, Now: t0})
	refused := newRoot(t, "acct_1", t0)
	_, err = s.RotateRootKey(ctx(t), refused, store.Rotation{ExpectNone: true, Now: t0})
	wantErr(t, "ExpectNone with a root", err, store.ErrConditionFailed)
	_, err = s.RotateRootKey(ctx(t), refused, store.Rotation{Expect: uuid.New(), Now: t0})
	wantErr(t, "Expect of another key", err, store.ErrConditionFailed)
	if _, err := s.Key(ctx(t), refused.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused rotation inserted its root")
	}
	wantRevokedAt(t, s, "root after refused rotations", first.ID, nil)

	end := t0.Add(time.Hour)
	second := rotate(t, s, "acct_1", store.Rotation{Expect: first.ID, Now: t0, GraceEnd: end})
	// The retiring root is no longer "the" root.
	_, err = s.RotateRootKey(ctx(t), refused, store.Rotation{Expect: first.ID, Now: t0})
	wantErr(t, "Expect of a retiring root", err, store.ErrConditionFailed)
	wantRevokedAt(t, s, "active root after a refused rotation", second.ID, nil)

	// After the root is revoked, the account has none: ExpectNone passes.
	if _, err := s.RevokeKey(ctx(t), second.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rotate(t, s, "acct_1", store.Rotation{ExpectNone: true, Now: t0.Add(2 * time.Second)})
}

// testRotateExpectNoneConcurrent is a double-clicked "first key": of many
// concurrent rotations expecting no root, exactly one succeeds.
func testRotateExpectNoneConcurrent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range n {
		wg.Go(func() {
			_, err := s.RotateRootKey(ctx(t), newRoot(t, "acct_1", t0), store.Rotation{ExpectNone: true, Now: t0})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConditionFailed):
				t.Errorf("RotateRootKey: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of %d first-key rotations succeeded, want 1", won, n)
	}
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 1 {
		t.Fatalf("%d active roots", len(roots))
	}
}

// testRotateDuringGraceConcurrent: concurrent graceful rotations leave one
// active root, every other root retiring or revoked.
func testRotateDuringGraceConcurrent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustRoot(t, s, "acct_1", t0)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			r := store.Rotation{Now: now, GraceEnd: now.Add(time.Hour)}
			if i%3 == 0 {
				r.GraceEnd = time.Time{}
			}
			if _, err := s.RotateRootKey(ctx(t), newRoot(t, "acct_1", now), r); err != nil {
				t.Errorf("RotateRootKey: %v", err)
			}
		})
	}
	wg.Wait()
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 1 {
		t.Fatalf("%d active roots after concurrent graceful rotations", len(roots))
	}
}

func testRotateInherits(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := newRoot(t, "acct_1", t0)
	root.Name, root.Metadata = "main", map[string]string{"owner": "ops"}
	if _, err := s.RotateRootKey(ctx(t), root, store.Rotation{Now: t0}); err != nil {
		t.Fatal(err)
	}
	next := rotate(t, s, "acct_1", store.Rotation{Now: t0.Add(time.Second)})
	got := mustKey(t, s, next.ID)
	if got.Name != "main" || got.Metadata["owner"] != "ops" || next.Name != "main" || next.Metadata["owner"] != "ops" {
		t.Fatalf("the new root has name %q metadata %v (returned %q %v), want the replaced root's", got.Name, got.Metadata, next.Name, next.Metadata)
	}
	own := newRoot(t, "acct_1", t0.Add(2*time.Second))
	own.Name = "own"
	if _, err := s.RotateRootKey(ctx(t), own, store.Rotation{Now: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := mustKey(t, s, own.ID); got.Name != "own" || got.Metadata["owner"] != "ops" {
		t.Fatalf("a root with its own name: %q %v", got.Name, got.Metadata)
	}
}

func testRevokeDuringGrace(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	old := mustRoot(t, s, "acct_1", t0)
	c1, c2 := mustChild(t, s, old, t0), mustChild(t, s, old, t0)
	end := t0.Add(time.Hour)
	root := rotate(t, s, "acct_1", store.Rotation{Now: t0, GraceEnd: end})
	fresh := mustChild(t, s, root, t0)

	// A retiring child alone.
	at := t0.Add(time.Minute)
	got, err := s.RevokeKey(ctx(t), c1.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	wantTime(t, "revoked retiring child", got.RevokedAt, at)
	wantRevokedAt(t, s, "its sibling", c2.ID, &end)

	// A retiring root and its children with it, not the new root's.
	at2 := t0.Add(2 * time.Minute)
	if _, err := s.RevokeKey(ctx(t), old.ID, at2); err != nil {
		t.Fatal(err)
	}
	wantRevokedAt(t, s, "retiring root", old.ID, &at2)
	wantRevokedAt(t, s, "its retiring child", c2.ID, &at2)
	wantRevokedAt(t, s, "the child revoked before", c1.ID, &at)
	wantRevokedAt(t, s, "the active root", root.ID, nil)
	wantRevokedAt(t, s, "the active root's child", fresh.ID, nil)
	// Revoking it again changes nothing.
	if got, _ := s.RevokeKey(ctx(t), old.ID, t0.Add(3*time.Minute)); !sameTime(*got.RevokedAt, at2) {
		t.Fatalf("a second revocation moved RevokedAt to %v", *got.RevokedAt)
	}

	// The active root takes every key of the account, retiring ones too.
	mid := rotate(t, s, "acct_1", store.Rotation{Now: t0.Add(4 * time.Minute), GraceEnd: end})
	at3 := t0.Add(5 * time.Minute)
	last := activeRoots(t, s, "acct_1")[0]
	if _, err := s.RevokeKey(ctx(t), last.ID, at3); err != nil {
		t.Fatal(err)
	}
	for what, id := range map[string]uuid.UUID{"retiring root": root.ID, "retiring child": fresh.ID, "root": mid.ID} {
		wantRevokedAt(t, s, what, id, &at3)
	}
	if n := len(activeRoots(t, s, "acct_1")); n != 0 {
		t.Fatalf("%d active roots after revoking the active root", n)
	}
}

func testDeleteAccount(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	root := mustRoot(t, s, "acct_1", t0)
	child := mustChild(t, s, root, t0)
	otherRoot := mustRoot(t, s, "acct_2", t0)
	m := store.MonthOf(t0)
	_, err := s.AddUsage(ctx(t), []store.UsageDelta{
		{AccountID: "acct_1", KeyID: child.ID, Month: m, N: 5},
		{AccountID: "acct_2", KeyID: otherRoot.ID, Month: m, N: 7},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), "acct_1"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err = s.Account(ctx(t), "acct_1")
	wantErr(t, "Account after DeleteAccount", err, store.ErrNotFound)
	for _, k := range []store.Key{root, child} {
		_, err = s.Key(ctx(t), k.ID)
		wantErr(t, "Key after DeleteAccount", err, store.ErrNotFound)
		_, err = s.ResolveHash(ctx(t), k.Hash)
		wantErr(t, "ResolveHash after DeleteAccount", err, store.ErrNotFound)
	}
	if ks, err := s.ListKeys(ctx(t), "acct_1"); err != nil || len(ks) != 0 {
		t.Fatalf("ListKeys after DeleteAccount: %d keys, %v", len(ks), err)
	}
	if u, _ := s.Usage(ctx(t), "acct_1", child.ID, m); u != (store.UsageTotal{}) {
		t.Fatalf("usage after DeleteAccount: %+v", u)
	}
	if u, _ := s.Usage(ctx(t), "acct_2", otherRoot.ID, m); u.Key != 7 || u.Account != 7 {
		t.Fatalf("another account's usage after DeleteAccount: %+v", u)
	}
	wantRevokedAt(t, s, "another account's root", otherRoot.ID, nil)
	wantErr(t, "DeleteAccount again", s.DeleteAccount(ctx(t), "acct_1"), store.ErrNotFound)
	// The ID is free again, and so are the old keys' hashes.
	mustAccount(t, s, "acct_1")
	again := newRoot(t, "acct_1", t0)
	again.Hash = root.Hash
	if err := s.ReplaceRootKey(ctx(t), again, uuid.Nil, t0); err != nil {
		t.Fatalf("a new root with a deleted key's hash: %v", err)
	}
}

func testListAccountsPaging(t *testing.T, s store.Store) {
	// Byte order, whatever a database's collation thinks of case.
	ids := []string{"b", "A", "a", "B", "acct_10", "acct_2", "Z", "é"}
	for _, id := range ids {
		mustAccount(t, s, id)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(ids) {
			t.Fatal("ListAccounts does not end")
		}
		page, err := s.ListAccounts(ctx(t), after, 3)
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		if len(page) > 3 {
			t.Fatalf("a page of %d with limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			got = append(got, a.ID)
			if a.Tier != "pro" || !a.EmailVerified || !sameTime(a.CreatedAt, t0) {
				t.Fatalf("ListAccounts returned %+v", a)
			}
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListAccounts pages = %q, want %q", got, want)
	}
	if _, err := s.ListAccounts(ctx(t), "", 0); err == nil {
		t.Fatal("ListAccounts with limit 0: no error")
	}
}
