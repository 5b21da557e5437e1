package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// The RevokeLeaked cases: the answer to a leak report.

// wantRevokedIDs checks that got holds exactly the keys want, in the
// contract's order, each revoked at the given time.
func wantRevokedIDs(t *testing.T, what string, got []store.Key, at time.Time, want ...store.Key) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil slice, want an empty or full one", what)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys revoked, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("%s: key %d is %s, want %s (order: account, created, id)", what, i, got[i].ID, want[i].ID)
		}
		wantTime(t, what+" RevokedAt", got[i].RevokedAt, at)
		if got[i].Hash != want[i].Hash || got[i].AccountID != want[i].AccountID || got[i].IsRoot != want[i].IsRoot {
			t.Fatalf("%s: key %d not returned as stored: %+v", what, i, got[i])
		}
	}
}

func testRevokeLeakedChild(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c1 := mustChild(t, s, root, t0.Add(time.Second))
	c2 := mustChild(t, s, root, t0.Add(2*time.Second))
	now := t0.Add(time.Hour)
	got, err := s.RevokeLeaked(ctx(t), []uuid.UUID{c1.ID}, now)
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	wantRevokedIDs(t, "leaked child", got, now, c1)
	if k := mustKey(t, s, root.ID); k.RevokedAt != nil {
		t.Fatal("a leaked child revoked its root")
	}
	if k := mustKey(t, s, c2.ID); k.RevokedAt != nil {
		t.Fatal("a leaked child revoked its sibling")
	}
	// The same report again changes nothing and keeps the first time.
	later := now.Add(time.Minute)
	got, err = s.RevokeLeaked(ctx(t), []uuid.UUID{c1.ID, c1.ID}, later)
	if err != nil {
		t.Fatalf("RevokeLeaked again: %v", err)
	}
	wantRevokedIDs(t, "repeated report", got, later)
	wantTime(t, "child after a repeated report", mustKey(t, s, c1.ID).RevokedAt, now)
}

func testRevokeLeakedRootRevokesAccount(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	old := mustRoot(t, s, "acct_1", t0)
	root := mustRoot(t, s, "acct_1", t0.Add(time.Minute)) // revokes old at t0+1m
	c1 := mustChild(t, s, root, t0.Add(2*time.Minute))
	now := t0.Add(time.Hour)
	// A child whose revocation is scheduled for later (a key in a
	// rotation grace) is live, and a leak ends it now.
	retiring := newChild(t, root, t0.Add(3*time.Minute))
	graceEnd := now.Add(24 * time.Hour)
	retiring.RevokedAt, retiring.Retiring = &graceEnd, true
	if err := s.InsertChildKey(ctx(t), retiring); err != nil {
		t.Fatalf("InsertChildKey (retiring): %v", err)
	}
	// A child revoked before the leak keeps its time.
	gone := mustChild(t, s, root, t0.Add(4*time.Minute))
	if _, err := s.RevokeKey(ctx(t), gone.ID, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t, s, "acct_2", t0)
	otherChild := mustChild(t, s, other, t0.Add(time.Second))

	got, err := s.RevokeLeaked(ctx(t), []uuid.UUID{root.ID}, now)
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	wantRevokedIDs(t, "leaked root", got, now, root, c1, retiring)
	wantTime(t, "old root", mustKey(t, s, old.ID).RevokedAt, t0.Add(time.Minute))
	wantTime(t, "child revoked before", mustKey(t, s, gone.ID).RevokedAt, t0.Add(5*time.Minute))
	wantTime(t, "retiring child", mustKey(t, s, retiring.ID).RevokedAt, now)
	if k := mustKey(t, s, other.ID); k.RevokedAt != nil {
		t.Fatal("a leaked root revoked another account's root")
	}
	if k := mustKey(t, s, otherChild.ID); k.RevokedAt != nil {
		t.Fatal("a leaked root revoked another account's child")
	}
	// Nothing was minted: the account has no active root, takes no child,
	// and its owner can reissue.
	_, err = s.ActiveRootKey(ctx(t), "acct_1")
	wantErr(t, "ActiveRootKey after a leaked root", err, store.ErrNotFound)
	if ks, _ := s.ListKeys(ctx(t), "acct_1"); len(ks) != 5 {
		t.Fatalf("the account has %d keys after the leak, want the 5 it had", len(ks))
	}
	err = s.InsertChildKey(ctx(t), newChild(t, root, now))
	wantErr(t, "InsertChildKey under a leaked root", err, store.ErrNotFound)
	r, err := s.ResolveHash(ctx(t), root.Hash)
	if err != nil || r.ActiveRootID != uuid.Nil {
		t.Fatalf("ResolveHash(leaked root) = active root %s, %v; want none", r.ActiveRootID, err)
	}
	mustRoot(t, s, "acct_1", now.Add(time.Minute))
}

func testRevokeLeakedRevokedRoot(t *testing.T, s store.Store) {
	// A root revoked before the report is no longer a way in: its leak
	// leaves the account's current keys alone.
	mustAccount(t, s, "acct_1")
	old := mustRoot(t, s, "acct_1", t0)
	cur := mustRoot(t, s, "acct_1", t0.Add(time.Minute))
	child := mustChild(t, s, cur, t0.Add(2*time.Minute))
	got, err := s.RevokeLeaked(ctx(t), []uuid.UUID{old.ID}, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	wantRevokedIDs(t, "leak of a revoked root", got, t0)
	if k := mustKey(t, s, cur.ID); k.RevokedAt != nil {
		t.Fatal("the leak of a revoked root revoked the current root")
	}
	if k := mustKey(t, s, child.ID); k.RevokedAt != nil {
		t.Fatal("the leak of a revoked root revoked a current child")
	}
	wantTime(t, "old root", mustKey(t, s, old.ID).RevokedAt, t0.Add(time.Minute))
}

func testRevokeLeakedManyAccounts(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_b")
	mustAccount(t, s, "acct_a")
	rootB := mustRoot(t, s, "acct_b", t0)
	childB := mustChild(t, s, rootB, t0.Add(time.Second))
	rootA := mustRoot(t, s, "acct_a", t0)
	childA1 := mustChild(t, s, rootA, t0.Add(time.Second))
	childA2 := mustChild(t, s, rootA, t0.Add(2*time.Second))
	now := t0.Add(time.Hour)
	// Unknown IDs are ignored; a child named beside its leaked root is
	// revoked once.
	ids := []uuid.UUID{uuid.New(), childA2.ID, rootB.ID, childB.ID, uuid.Nil}
	got, err := s.RevokeLeaked(ctx(t), ids, now)
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	wantRevokedIDs(t, "two accounts", got, now, childA2, rootB, childB)
	if k := mustKey(t, s, childA1.ID); k.RevokedAt != nil {
		t.Fatal("a leaked child revoked its sibling")
	}
	if k := mustKey(t, s, rootA.ID); k.RevokedAt != nil {
		t.Fatal("a leaked child revoked its root")
	}
	for _, empty := range [][]uuid.UUID{nil, {}, {uuid.New()}} {
		got, err := s.RevokeLeaked(ctx(t), empty, now)
		if err != nil {
			t.Fatalf("RevokeLeaked(%v): %v", empty, err)
		}
		wantRevokedIDs(t, "nothing to revoke", got, now)
	}
}

func testRevokeLeakedConcurrentChildren(t *testing.T, s store.Store) {
	// Children inserted while the root's leak is handled are either
	// revoked by it or refused: none stays live.
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	now := t0.Add(time.Hour)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 10 {
				k := newChild(t, root, t0.Add(time.Minute))
				if err := s.InsertChildKey(ctx(t), k); err != nil {
					return
				}
			}
		}()
	}
	close(start)
	if _, err := s.RevokeLeaked(ctx(t), []uuid.UUID{root.ID}, now); err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	wg.Wait()
	ks, err := s.ListKeys(ctx(t), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.RevokedAt == nil {
			t.Fatalf("key %s (root %v) survived its root's leak", k.ID, k.IsRoot)
		}
	}
}

// leakedTests are the RevokeLeaked cases of Run.
var leakedTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RevokeLeakedChild", testRevokeLeakedChild},
	{"RevokeLeakedRootRevokesAccount", testRevokeLeakedRootRevokesAccount},
	{"RevokeLeakedRevokedRoot", testRevokeLeakedRevokedRoot},
	{"RevokeLeakedManyAccounts", testRevokeLeakedManyAccounts},
	{"RevokeLeakedConcurrentChildren", testRevokeLeakedConcurrentChildren},
	{"ResolveHashes", testResolveHashes},
}

func testResolveHashes(t *testing.T, s store.Store) {
	hr, ok := s.(store.HashResolver)
	if !ok {
		t.Skip("the store is not a store.HashResolver (optional)")
	}
	mustAccount(t, s, "acct_1")
	old := mustRoot(t, s, "acct_1", t0)
	root := mustRoot(t, s, "acct_1", t0.Add(time.Minute))
	child := mustChild(t, s, root, t0.Add(2*time.Minute))
	unknown := newHash(t)
	hashes := []store.Hash{child.Hash, unknown, old.Hash, root.Hash, child.Hash}
	for range 600 { // more than one chunk of a SQL store
		hashes = append(hashes, newHash(t))
	}
	got, err := hr.ResolveHashes(ctx(t), hashes)
	if err != nil {
		t.Fatalf("ResolveHashes: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("ResolveHashes found %d keys, want 3", len(got))
	}
	for _, k := range []store.Key{old, root, child} {
		want, err := s.ResolveHash(ctx(t), k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := got[k.Hash]
		if !ok {
			t.Fatalf("ResolveHashes lacks key %s", k.ID)
		}
		if r.Key.ID != want.Key.ID || r.Key.Hash != k.Hash || r.ActiveRootID != want.ActiveRootID ||
			r.Account.ID != "acct_1" || r.Account.Tier != want.Account.Tier ||
			(r.Key.RevokedAt == nil) != (want.Key.RevokedAt == nil) || !sameTime(r.Key.CreatedAt, want.Key.CreatedAt) {
			t.Fatalf("ResolveHashes(%s) = %+v, ResolveHash = %+v", k.ID, r, want)
		}
	}
	if _, ok := got[unknown]; ok {
		t.Fatal("ResolveHashes answered an unknown hash")
	}
	empty, err := hr.ResolveHashes(ctx(t), nil)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("ResolveHashes(nil) = %v, %v; want an empty map", empty, err)
	}
}
