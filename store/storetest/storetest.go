package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Run runs the conformance suite against the stores newStore returns, one
// fresh store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateAccount", testCreateAccount},
		{"UpdateAccount", testUpdateAccount},
		{"UpdateAccountConcurrentFields", testUpdateAccountConcurrentFields},
		{"ReplaceRootKeyFirst", testReplaceRootKeyFirst},
		{"ReplaceRootKeyRevokesRootAndChildren", testReplaceRootKeyRevokes},
		{"ReplaceRootKeyUnknownAccount", testReplaceRootKeyUnknownAccount},
		{"ReplaceRootKeyConflictChangesNothing", testReplaceRootKeyConflict},
		{"ReplaceRootKeyConcurrent", testReplaceRootKeyConcurrent},
		{"ReplaceRootKeyExpect", testReplaceRootKeyExpect},
		{"ReplaceRootKeyExpectConcurrent", testReplaceRootKeyExpectConcurrent},
		{"InsertChildKey", testInsertChildKey},
		{"InsertChildKeyNeedsActiveRoot", testInsertChildKeyNeedsActiveRoot},
		{"DuplicateHash", testDuplicateHash},
		{"DuplicateID", testDuplicateID},
		{"RevokeChild", testRevokeChild},
		{"RevokeRootCascades", testRevokeRootCascades},
		{"RevokeIsIdempotent", testRevokeIdempotent},
		{"RevokeUnknown", testRevokeUnknown},
		{"KeyRoundTrip", testKeyRoundTrip},
		{"ResolveHash", testResolveHash},
		{"ActiveRootKey", testActiveRootKey},
		{"ListKeys", testListKeys},
		{"RecordLastUsed", testRecordLastUsed},
		{"AddUsage", testAddUsage},
		{"UsageMonthsAreSeparate", testUsageMonths},
		{"AddUsageConcurrent", testAddUsageConcurrent},
		{"IssueAndReissueConcurrent", testIssueAndReissueConcurrent},
		{"AddUsageFlushID", testAddUsageFlushID}, {"AddUsageFlushIDConcurrent", testAddUsageFlushIDConcurrent},
		{"AccountUsage", testAccountUsage}, {"UpdateKey", testUpdateKey}, {"UpdateKeyRefusals", testUpdateKeyRefusals}, {"UpdateKeyRacesRevoke", testUpdateKeyRacesRevoke},
	}
	tests = append(tests, pruningTests...)
	tests = append(tests, lifecycleTests...)

	tests = append(tests, leakedTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, expiringTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// t0 is a fixed instant with sub-second precision that every backend must
// keep to the microsecond.
var t0 = time.Date(2026, 3, 2, 10, 30, 0, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func mustAccount(t *testing.T, s store.Store, id string) store.Account {
	t.Helper()
	a := store.Account{ID: id, Tier: "pro", EmailVerified: true, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateAccount(ctx(t), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", id, err)
	}
	return a
}

func newHash(t *testing.T) store.Hash {
	t.Helper()
	var h store.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

func newRoot(t *testing.T, account string, at time.Time) store.Key {
	id := uuid.New()
	return store.Key{ID: id, RootKeyID: id, AccountID: account, Hash: newHash(t),
		Prefix: "sk_live_root", IsRoot: true, CreatedAt: at}
}

func newChild(t *testing.T, root store.Key, at time.Time) store.Key {
	return store.Key{ID: uuid.New(), RootKeyID: root.ID, AccountID: root.AccountID, Hash: newHash(t),
		Prefix: "sk_live_child", CreatedAt: at}
}

func mustRoot(t *testing.T, s store.Store, account string, at time.Time) store.Key {
	t.Helper()
	k := newRoot(t, account, at)
	if err := s.ReplaceRootKey(ctx(t), k, uuid.Nil, at); err != nil {
		t.Fatalf("ReplaceRootKey: %v", err)
	}
	return k
}

func mustChild(t *testing.T, s store.Store, root store.Key, at time.Time) store.Key {
	t.Helper()
	k := newChild(t, root, at)
	if err := s.InsertChildKey(ctx(t), k); err != nil {
		t.Fatalf("InsertChildKey: %v", err)
	}
	return k
}

func mustKey(t *testing.T, s store.Store, id uuid.UUID) store.Key {
	t.Helper()
	k, err := s.Key(ctx(t), id)
	if err != nil {
		t.Fatalf("Key(%s): %v", id, err)
	}
	return k
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil, want %v", what, want)
	}
	if !sameTime(*got, want) {
		t.Fatalf("%s: %v, want %v", what, *got, want)
	}
	if got.Location() != time.UTC {
		t.Fatalf("%s: location %v, want UTC", what, got.Location())
	}
}

func activeRoots(t *testing.T, s store.Store, account string) []store.Key {
	t.Helper()
	ks, err := s.ListKeys(ctx(t), account)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	var out []store.Key
	for _, k := range ks {
		if k.IsRoot && k.RevokedAt == nil {
			out = append(out, k)
		}
	}
	return out
}

func testCreateAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "acct_1")
	got, err := s.Account(ctx(t), "acct_1")
	if err != nil {
		t.Fatalf("Account: %v", err)
	}
	if got.ID != a.ID || got.Tier != a.Tier || got.EmailVerified != a.EmailVerified || !sameTime(got.CreatedAt, t0) {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	err = s.CreateAccount(ctx(t), store.Account{ID: "acct_1", Tier: "free", CreatedAt: t0, UpdatedAt: t0})
	wantErr(t, "CreateAccount duplicate", err, store.ErrConflict)
	if got, _ := s.Account(ctx(t), "acct_1"); got.Tier != "pro" {
		t.Fatalf("duplicate CreateAccount changed the tier to %q", got.Tier)
	}
	_, err = s.Account(ctx(t), "nobody")
	wantErr(t, "Account unknown", err, store.ErrNotFound)
}

func testUpdateAccount(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	later := t0.Add(time.Hour)
	quant, unverified := "quant", false
	err := s.UpdateAccount(ctx(t), "acct_1", store.AccountUpdate{Tier: &quant, UpdatedAt: later})
	if err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, _ := s.Account(ctx(t), "acct_1")
	if got.Tier != "quant" || !got.EmailVerified || !sameTime(got.UpdatedAt, later) {
		t.Fatalf("after changing the tier only: %+v", got)
	}
	if !sameTime(got.CreatedAt, t0) {
		t.Fatalf("UpdateAccount changed CreatedAt to %v", got.CreatedAt)
	}
	err = s.UpdateAccount(ctx(t), "acct_1", store.AccountUpdate{EmailVerified: &unverified, UpdatedAt: later.Add(time.Second)})
	if err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	got, _ = s.Account(ctx(t), "acct_1")
	if got.Tier != "quant" || got.EmailVerified || !sameTime(got.UpdatedAt, later.Add(time.Second)) {
		t.Fatalf("after changing the email flag only: %+v", got)
	}
	err = s.UpdateAccount(ctx(t), "nobody", store.AccountUpdate{Tier: &quant, UpdatedAt: later})
	wantErr(t, "UpdateAccount unknown", err, store.ErrNotFound)
}

// testUpdateAccountConcurrentFields changes the tier and the email flag
// from many goroutines at once: neither kind of change may undo the other.
func testUpdateAccountConcurrentFields(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			var u store.AccountUpdate
			if i%2 == 0 {
				tier := "starter"
				u.Tier = &tier
			} else {
				f := false
				u.EmailVerified = &f
			}
			u.UpdatedAt = t0.Add(time.Duration(i) * time.Second)
			if err := s.UpdateAccount(ctx(t), "acct_1", u); err != nil {
				t.Errorf("UpdateAccount: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ := s.Account(ctx(t), "acct_1")
	if got.Tier != "starter" || got.EmailVerified {
		t.Fatalf("after concurrent updates of different fields: %+v", got)
	}
}

// testReplaceRootKeyExpect checks the precondition that lets a root key
// reissue itself only while it is the active root.
func testReplaceRootKeyExpect(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	first := mustRoot(t, s, "acct_1", t0)
	child := mustChild(t, s, first, t0)
	second := newRoot(t, "acct_1", t0.Add(time.Second))
	if err := s.ReplaceRootKey(ctx(t), second, first.ID, t0.Add(time.Second)); err != nil {
		t.Fatalf("ReplaceRootKey expecting the active root: %v", err)
	}
	wantTime(t, "child", mustKey(t, s, child.ID).RevokedAt, t0.Add(time.Second))

	third := newRoot(t, "acct_1", t0.Add(2*time.Second))
	err := s.ReplaceRootKey(ctx(t), third, first.ID, t0.Add(2*time.Second))
	wantErr(t, "ReplaceRootKey expecting a replaced root", err, store.ErrNotFound)
	if _, err := s.Key(ctx(t), third.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused ReplaceRootKey inserted its root")
	}
	if mustKey(t, s, second.ID).RevokedAt != nil {
		t.Fatal("a refused ReplaceRootKey revoked the active root")
	}
	err = s.ReplaceRootKey(ctx(t), third, uuid.New(), t0.Add(2*time.Second))
	wantErr(t, "ReplaceRootKey expecting an unknown key", err, store.ErrNotFound)

	mustAccount(t, s, "acct_2")
	other := mustRoot(t, s, "acct_2", t0)
	err = s.ReplaceRootKey(ctx(t), third, other.ID, t0.Add(2*time.Second))
	wantErr(t, "ReplaceRootKey expecting another account's root", err, store.ErrNotFound)

	if _, err := s.RevokeKey(ctx(t), second.ID, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	err = s.ReplaceRootKey(ctx(t), third, second.ID, t0.Add(3*time.Second))
	wantErr(t, "ReplaceRootKey expecting a revoked root", err, store.ErrNotFound)
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 0 {
		t.Fatalf("%d active roots after refused reissues of a revoked root", len(roots))
	}
}

// testReplaceRootKeyExpectConcurrent: of many reissues by the same root
// key at once, exactly one wins.
func testReplaceRootKeyExpectConcurrent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	first := mustRoot(t, s, "acct_1", t0)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range n {
		wg.Go(func() {
			err := s.ReplaceRootKey(ctx(t), newRoot(t, "acct_1", t0), first.ID, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("ReplaceRootKey: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of %d reissues by one root key succeeded, want 1", won, n)
	}
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 1 || roots[0].ID == first.ID {
		t.Fatalf("active roots = %v", roots)
	}
}

func testReplaceRootKeyFirst(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	exp := t0.Add(24 * time.Hour)
	q, r := int64(1000), 10
	root := newRoot(t, "acct_1", t0)
	root.Name, root.ExpiresAt, root.RequestsPerMonth, root.RequestsPerMinute = "main", &exp, &q, &r
	if err := s.ReplaceRootKey(ctx(t), root, uuid.Nil, t0); err != nil {
		t.Fatalf("ReplaceRootKey: %v", err)
	}
	got, err := s.ActiveRootKey(ctx(t), "acct_1")
	if err != nil {
		t.Fatalf("ActiveRootKey: %v", err)
	}
	if got.ID != root.ID || got.RootKeyID != root.ID || !got.IsRoot || got.Hash != root.Hash ||
		got.Name != "main" || got.Prefix != "sk_live_root" || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("ActiveRootKey = %+v, want %+v", got, root)
	}
	wantTime(t, "ExpiresAt", got.ExpiresAt, exp)
	if got.RequestsPerMonth == nil || *got.RequestsPerMonth != q || got.RequestsPerMinute == nil || *got.RequestsPerMinute != r {
		t.Fatalf("overrides = %v, %v", got.RequestsPerMonth, got.RequestsPerMinute)
	}
}

func testReplaceRootKeyRevokes(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	old := mustRoot(t, s, "acct_1", t0)
	c1 := mustChild(t, s, old, t0.Add(time.Second))
	c2 := mustChild(t, s, old, t0.Add(2*time.Second))
	earlier := t0.Add(3 * time.Second)
	if _, err := s.RevokeKey(ctx(t), c2.ID, earlier); err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t, s, "acct_2", t0)
	otherChild := mustChild(t, s, other, t0)

	now := t0.Add(time.Minute)
	nu := mustRoot(t, s, "acct_1", now)

	wantTime(t, "old root RevokedAt", mustKey(t, s, old.ID).RevokedAt, now)
	wantTime(t, "child RevokedAt", mustKey(t, s, c1.ID).RevokedAt, now)
	wantTime(t, "already revoked child keeps its time", mustKey(t, s, c2.ID).RevokedAt, earlier)
	if k := mustKey(t, s, nu.ID); k.RevokedAt != nil {
		t.Fatalf("new root is revoked: %v", k.RevokedAt)
	}
	if k := mustKey(t, s, other.ID); k.RevokedAt != nil {
		t.Fatal("another account's root was revoked")
	}
	if k := mustKey(t, s, otherChild.ID); k.RevokedAt != nil {
		t.Fatal("another account's child was revoked")
	}
	if roots := activeRoots(t, s, "acct_1"); len(roots) != 1 || roots[0].ID != nu.ID {
		t.Fatalf("active roots = %v, want just %s", roots, nu.ID)
	}
}

func testReplaceRootKeyUnknownAccount(t *testing.T, s store.Store) {
	err := s.ReplaceRootKey(ctx(t), newRoot(t, "nobody", t0), uuid.Nil, t0)
	wantErr(t, "ReplaceRootKey unknown account", err, store.ErrNotFound)
}

func testReplaceRootKeyConflict(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	old := mustRoot(t, s, "acct_1", t0)
	child := mustChild(t, s, old, t0)
	dup := newRoot(t, "acct_1", t0.Add(time.Minute))
	dup.Hash = child.Hash
	err := s.ReplaceRootKey(ctx(t), dup, uuid.Nil, t0.Add(time.Minute))
	wantErr(t, "ReplaceRootKey with a taken hash", err, store.ErrConflict)
	if k := mustKey(t, s, old.ID); k.RevokedAt != nil {
		t.Fatal("a failed ReplaceRootKey revoked the old root")
	}
	if k := mustKey(t, s, child.ID); k.RevokedAt != nil {
		t.Fatal("a failed ReplaceRootKey revoked a child")
	}
	if _, err := s.Key(ctx(t), dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed ReplaceRootKey left its key behind: %v", err)
	}
}

func testReplaceRootKeyConcurrent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	first := mustRoot(t, s, "acct_1", t0)
	for range 3 {
		mustChild(t, s, first, t0)
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			at := t0.Add(time.Duration(i+1) * time.Second)
			if err := s.ReplaceRootKey(ctx(t), newRoot(t, "acct_1", at), uuid.Nil, at); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent ReplaceRootKey: %v", err)
	}
	roots := activeRoots(t, s, "acct_1")
	if len(roots) != 1 {
		t.Fatalf("%d active roots after %d concurrent ReplaceRootKey, want 1", len(roots), n)
	}
	got, err := s.ActiveRootKey(ctx(t), "acct_1")
	if err != nil || got.ID != roots[0].ID {
		t.Fatalf("ActiveRootKey = %v, %v; want %s", got.ID, err, roots[0].ID)
	}
	ks, _ := s.ListKeys(ctx(t), "acct_1")
	if len(ks) != 1+3+n {
		t.Fatalf("%d keys, want %d", len(ks), 1+3+n)
	}
	for _, k := range ks {
		if k.ID != got.ID && k.RevokedAt == nil {
			t.Fatalf("key %s (root=%v) still active beside the root", k.ID, k.IsRoot)
		}
	}
}

func testInsertChildKey(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	exp := t0.Add(time.Hour)
	q := int64(5)
	c := newChild(t, root, t0)
	c.Name, c.ExpiresAt, c.RequestsPerMonth = "ci", &exp, &q
	if err := s.InsertChildKey(ctx(t), c); err != nil {
		t.Fatalf("InsertChildKey: %v", err)
	}
	got := mustKey(t, s, c.ID)
	if got.IsRoot || got.RootKeyID != root.ID || got.AccountID != "acct_1" || got.Name != "ci" ||
		got.Prefix != "sk_live_child" || got.RequestsPerMinute != nil || got.RequestsPerMonth == nil || *got.RequestsPerMonth != 5 {
		t.Fatalf("child = %+v", got)
	}
	wantTime(t, "ExpiresAt", got.ExpiresAt, exp)
	wantTime(t, "CreatedAt", &got.CreatedAt, t0)
}

func testInsertChildKeyNeedsActiveRoot(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	old := mustRoot(t, s, "acct_1", t0)
	mustRoot(t, s, "acct_1", t0.Add(time.Second))
	err := s.InsertChildKey(ctx(t), newChild(t, old, t0))
	wantErr(t, "child of a replaced root", err, store.ErrNotFound)

	other := mustRoot(t, s, "acct_2", t0)
	c := newChild(t, other, t0)
	c.AccountID = "acct_1"
	wantErr(t, "child of another account's root", s.InsertChildKey(ctx(t), c), store.ErrNotFound)

	orphan := newChild(t, newRoot(t, "acct_1", t0), t0)
	wantErr(t, "child of a root that does not exist", s.InsertChildKey(ctx(t), orphan), store.ErrNotFound)

	if _, err := s.RevokeKey(ctx(t), other.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "child of a revoked root", s.InsertChildKey(ctx(t), newChild(t, other, t0)), store.ErrNotFound)

	ks, _ := s.ListKeys(ctx(t), "acct_1")
	if len(ks) != 2 {
		t.Fatalf("refused inserts left keys behind: %d keys", len(ks))
	}
}

func testDuplicateHash(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	dup := newChild(t, root, t0)
	dup.Hash = c.Hash
	wantErr(t, "child with a taken hash", s.InsertChildKey(ctx(t), dup), store.ErrConflict)
	dup.Hash = root.Hash
	wantErr(t, "child with the root's hash", s.InsertChildKey(ctx(t), dup), store.ErrConflict)
	if _, err := s.Key(ctx(t), dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("conflicting insert was stored: %v", err)
	}
}

func testDuplicateID(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	dup := newChild(t, root, t0)
	dup.ID = c.ID
	wantErr(t, "child with a taken id", s.InsertChildKey(ctx(t), dup), store.ErrConflict)
	if got := mustKey(t, s, c.ID); got.Hash != c.Hash {
		t.Fatal("conflicting insert overwrote the key")
	}
}

func testRevokeChild(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	c2 := mustChild(t, s, root, t0)
	now := t0.Add(time.Minute)
	got, err := s.RevokeKey(ctx(t), c.ID, now)
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	wantTime(t, "returned RevokedAt", got.RevokedAt, now)
	if got.ID != c.ID || got.Hash != c.Hash {
		t.Fatalf("RevokeKey returned %+v", got)
	}
	stored := mustKey(t, s, c.ID)
	wantTime(t, "revoked row stays readable with its RevokedAt", stored.RevokedAt, now)
	if stored.Hash != c.Hash || stored.AccountID != "acct_1" || stored.RootKeyID != root.ID {
		t.Fatalf("revoked row lost fields: %+v", stored)
	}
	if mustKey(t, s, root.ID).RevokedAt != nil || mustKey(t, s, c2.ID).RevokedAt != nil {
		t.Fatal("revoking a child revoked another key")
	}
	r, err := s.ResolveHash(ctx(t), c.Hash)
	if err != nil {
		t.Fatalf("ResolveHash of a revoked key: %v", err)
	}
	wantTime(t, "ResolveHash RevokedAt", r.Key.RevokedAt, now)
}

func testRevokeRootCascades(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	now := t0.Add(time.Minute)
	if _, err := s.RevokeKey(ctx(t), root.ID, now); err != nil {
		t.Fatal(err)
	}
	wantTime(t, "child of a revoked root", mustKey(t, s, c.ID).RevokedAt, now)
	_, err := s.ActiveRootKey(ctx(t), "acct_1")
	wantErr(t, "ActiveRootKey after revoking it", err, store.ErrNotFound)
	r, err := s.ResolveHash(ctx(t), c.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if r.ActiveRootID != uuid.Nil {
		t.Fatalf("ActiveRootID = %s after the root was revoked, want Nil", r.ActiveRootID)
	}
	// A new root can be issued after a revoked one.
	nu := mustRoot(t, s, "acct_1", now)
	if got, err := s.ActiveRootKey(ctx(t), "acct_1"); err != nil || got.ID != nu.ID {
		t.Fatalf("ActiveRootKey = %v, %v", got.ID, err)
	}
}

func testRevokeIdempotent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	first := t0.Add(time.Minute)
	if _, err := s.RevokeKey(ctx(t), c.ID, first); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokeKey(ctx(t), c.ID, first.Add(time.Hour))
	if err != nil {
		t.Fatalf("second RevokeKey: %v", err)
	}
	wantTime(t, "second RevokeKey keeps the first time", got.RevokedAt, first)
	wantTime(t, "stored", mustKey(t, s, c.ID).RevokedAt, first)
}

func testRevokeUnknown(t *testing.T, s store.Store) {
	_, err := s.RevokeKey(ctx(t), uuid.New(), t0)
	wantErr(t, "RevokeKey unknown", err, store.ErrNotFound)
	_, err = s.Key(ctx(t), uuid.New())
	wantErr(t, "Key unknown", err, store.ErrNotFound)
	_, err = s.ResolveHash(ctx(t), newHash(t))
	wantErr(t, "ResolveHash unknown", err, store.ErrNotFound)
}

func testKeyRoundTrip(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	got := mustKey(t, s, root.ID)
	wantTime(t, "CreatedAt", &got.CreatedAt, t0)
	if got.ExpiresAt != nil || got.RevokedAt != nil || got.LastUsedAt != nil ||
		got.RequestsPerMonth != nil || got.RequestsPerMinute != nil || got.Name != "" {
		t.Fatalf("unset fields came back set: %+v", got)
	}
	// The returned key is the caller's: changing it must not change the store.
	got.Name = "changed"
	if mustKey(t, s, root.ID).Name != "" {
		t.Fatal("modifying a returned key changed the stored one")
	}
}

func testResolveHash(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	r, err := s.ResolveHash(ctx(t), c.Hash)
	if err != nil {
		t.Fatalf("ResolveHash: %v", err)
	}
	if r.Key.ID != c.ID || r.Account.ID != "acct_1" || r.Account.Tier != "pro" || !r.Account.EmailVerified || r.ActiveRootID != root.ID {
		t.Fatalf("ResolveHash = %+v", r)
	}
	nu := mustRoot(t, s, "acct_1", t0.Add(time.Second))
	r, err = s.ResolveHash(ctx(t), c.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if r.ActiveRootID != nu.ID || r.Key.RevokedAt == nil {
		t.Fatalf("after reissue: ActiveRootID=%s RevokedAt=%v", r.ActiveRootID, r.Key.RevokedAt)
	}
}

func testActiveRootKey(t *testing.T, s store.Store) {
	_, err := s.ActiveRootKey(ctx(t), "nobody")
	wantErr(t, "unknown account", err, store.ErrNotFound)
	mustAccount(t, s, "acct_1")
	_, err = s.ActiveRootKey(ctx(t), "acct_1")
	wantErr(t, "account without keys", err, store.ErrNotFound)
}

func testListKeys(t *testing.T, s store.Store) {
	ks, err := s.ListKeys(ctx(t), "nobody")
	if err != nil || len(ks) != 0 {
		t.Fatalf("ListKeys(unknown) = %v, %v", ks, err)
	}
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	root := mustRoot(t, s, "acct_1", t0)
	c1 := mustChild(t, s, root, t0.Add(2*time.Second))
	c2 := mustChild(t, s, root, t0.Add(1*time.Second))
	mustRoot(t, s, "acct_2", t0)
	if _, err := s.RevokeKey(ctx(t), c1.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ks, err = s.ListKeys(ctx(t), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	want := []uuid.UUID{root.ID, c2.ID, c1.ID}
	if len(ks) != len(want) {
		t.Fatalf("ListKeys = %d keys, want %d", len(ks), len(want))
	}
	for i, k := range ks {
		if k.ID != want[i] {
			t.Fatalf("ListKeys[%d] = %s, want %s (oldest first)", i, k.ID, want[i])
		}
	}
	if ks[2].RevokedAt == nil {
		t.Fatal("ListKeys lost the revoked key's RevokedAt")
	}
}

func testRecordLastUsed(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	if err := s.RecordLastUsed(ctx(t), nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	err := s.RecordLastUsed(ctx(t), []store.LastUsed{{KeyID: root.ID, At: t2}, {KeyID: c.ID, At: t1}, {KeyID: uuid.New(), At: t1}})
	if err != nil {
		t.Fatalf("RecordLastUsed: %v", err)
	}
	wantTime(t, "root LastUsedAt", mustKey(t, s, root.ID).LastUsedAt, t2)
	wantTime(t, "child LastUsedAt", mustKey(t, s, c.ID).LastUsedAt, t1)
	// An older time never moves LastUsedAt back.
	if err := s.RecordLastUsed(ctx(t), []store.LastUsed{{KeyID: root.ID, At: t1}}); err != nil {
		t.Fatal(err)
	}
	wantTime(t, "root LastUsedAt after an older batch", mustKey(t, s, root.ID).LastUsedAt, t2)
	// Revoked keys still record their last use.
	if _, err := s.RevokeKey(ctx(t), c.ID, t2); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLastUsed(ctx(t), []store.LastUsed{{KeyID: c.ID, At: t2}}); err != nil {
		t.Fatal(err)
	}
	wantTime(t, "revoked child LastUsedAt", mustKey(t, s, c.ID).LastUsedAt, t2)
}

func testAddUsage(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	m := store.MonthOf(t0)
	if got, err := s.AddUsage(ctx(t), uuid.Nil, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty AddUsage = %v, %v", got, err)
	}
	got, err := s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{
		{AccountID: "acct_1", KeyID: root.ID, Month: m, N: 3},
		{AccountID: "acct_1", KeyID: c.ID, Month: m, N: 4},
		{AccountID: "acct_1", KeyID: root.ID, Month: m, N: 1},
	})
	if err != nil {
		t.Fatalf("AddUsage: %v", err)
	}
	want := []store.UsageTotal{{Key: 3, Account: 3}, {Key: 4, Account: 7}, {Key: 4, Account: 8}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("AddUsage totals = %v, want %v", got, want)
	}
	u, err := s.Usage(ctx(t), "acct_1", c.ID, m)
	if err != nil || u != (store.UsageTotal{Key: 4, Account: 8}) {
		t.Fatalf("Usage = %v, %v; want {4 8}", u, err)
	}
	got, err = s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{{AccountID: "acct_1", KeyID: c.ID, Month: m, N: 10}})
	if err != nil || got[0] != (store.UsageTotal{Key: 14, Account: 18}) {
		t.Fatalf("second AddUsage = %v, %v; want {14 18}", got, err)
	}
	u, err = s.Usage(ctx(t), "nobody", uuid.New(), m)
	if err != nil || u != (store.UsageTotal{}) {
		t.Fatalf("Usage of nothing = %v, %v", u, err)
	}
}

func testUsageMonths(t *testing.T, s store.Store) {
	id := uuid.New()
	jan := store.Month{Year: 2026, Month: time.January}
	feb := jan.Next()
	if feb != (store.Month{Year: 2026, Month: time.February}) || (store.Month{Year: 2025, Month: time.December}).Next() != (store.Month{Year: 2026, Month: time.January}) {
		t.Fatalf("Month.Next is wrong: %v", feb)
	}
	if _, err := s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{{AccountID: "a", KeyID: id, Month: jan, N: 5}, {AccountID: "a", KeyID: id, Month: feb, N: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    store.Month
		want int64
	}{{jan, 5}, {feb, 2}, {feb.Next(), 0}} {
		u, err := s.Usage(ctx(t), "a", id, tc.m)
		if err != nil || u.Key != tc.want || u.Account != tc.want {
			t.Fatalf("Usage(%v) = %v, %v; want %d", tc.m, u, err, tc.want)
		}
	}
}

func testAddUsageConcurrent(t *testing.T, s store.Store) {
	m := store.MonthOf(t0)
	keysN, rounds := 4, 25
	ids := make([]uuid.UUID, keysN)
	for i := range ids {
		ids[i] = uuid.New()
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for range rounds {
				if _, err := s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{{AccountID: "acct_1", KeyID: id, Month: m, N: 2}}); err != nil {
					t.Errorf("AddUsage: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		u, err := s.Usage(ctx(t), "acct_1", id, m)
		if err != nil || u.Key != int64(2*rounds) || u.Account != int64(2*rounds*keysN) {
			t.Fatalf("Usage = %v, %v; want key %d account %d", u, err, 2*rounds, 2*rounds*keysN)
		}
	}
}

// testIssueAndReissueConcurrent races child inserts against root
// replacements: whatever interleaving wins, no unrevoked child may hang off
// a revoked root.
func testIssueAndReissueConcurrent(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustRoot(t, s, "acct_1", t0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				root, err := s.ActiveRootKey(ctx(t), "acct_1")
				if err != nil {
					t.Errorf("ActiveRootKey: %v", err)
					return
				}
				err = s.InsertChildKey(ctx(t), newChild(t, root, t0))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("InsertChildKey: %v", err)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 5 {
				if err := s.ReplaceRootKey(ctx(t), newRoot(t, "acct_1", t0), uuid.Nil, t0); err != nil {
					t.Errorf("ReplaceRootKey: %v", err)
				}
			}
		})
	}
	wg.Wait()
	ks, _ := s.ListKeys(ctx(t), "acct_1")
	active := map[uuid.UUID]bool{}
	for _, k := range ks {
		if k.IsRoot && k.RevokedAt == nil {
			active[k.ID] = true
		}
	}
	if len(active) != 1 {
		t.Fatalf("%d active roots, want 1", len(active))
	}
	for _, k := range ks {
		if !k.IsRoot && k.RevokedAt == nil && !active[k.RootKeyID] {
			t.Fatalf("active child %s of revoked root %s", k.ID, k.RootKeyID)
		}
	}
}
