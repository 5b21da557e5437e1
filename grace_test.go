package keys_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// TestReissueWithGrace: the old root and its children work until the grace
// end, from the cache too, and then are refused as revoked; the new root is
// the account's root at once.
func TestReissueWithGrace(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	old := f.reissue(t, "acct_1")
	exp := start.Add(30 * time.Minute)
	child := f.child(t, "acct_1", keys.ChildOptions{})
	early := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp})
	heldChild := f.auth(t, child.Secret)

	iss, err := f.m.Reissue(ctx(), "acct_1", keys.WithGrace(time.Hour))
	if err != nil {
		t.Fatalf("Reissue with grace: %v", err)
	}
	end := start.Add(time.Hour)
	root, err := f.m.RootKey(ctx(), "acct_1")
	if err != nil || root.ID != iss.Key.ID {
		t.Fatalf("RootKey during the grace = %v, %v; want the new root", root.ID, err)
	}
	for _, tok := range []string{old.Secret, child.Secret, early.Secret, iss.Secret} {
		f.auth(t, tok)
	}
	k := f.auth(t, child.Secret)
	if !k.Retiring(f.m.Now()) || !k.Active(f.m.Now()) || !k.RevokedAt.Equal(end) || !k.StopsAt().Equal(end) {
		t.Fatalf("retiring child: RevokedAt %v, Retiring %v, Active %v, StopsAt %v", k.RevokedAt, k.Retiring(f.m.Now()), k.Active(f.m.Now()), k.StopsAt())
	}
	if e := f.auth(t, early.Secret); !e.StopsAt().Equal(exp) {
		t.Fatalf("a child expiring before the grace end stops at %v, want %v", e.StopsAt(), exp)
	}
	// A Key held from before the reissue is re-read by Allow and still
	// admitted during the grace.
	if _, err := f.m.Allow(ctx(), heldChild); err != nil {
		t.Fatalf("Allow of a held child during the grace: %v", err)
	}
	// The retiring root cannot reissue.
	if _, err := f.m.ReissueFrom(ctx(), f.auth(t, old.Secret)); !errors.Is(err, keys.ErrRootKeyRetired) {
		t.Fatalf("ReissueFrom by a retiring root: %v", err)
	}
	held := f.auth(t, child.Secret) // warm in the cache now

	f.clock.Set(end.Add(-time.Nanosecond))
	f.auth(t, old.Secret)
	if _, err := f.m.Authenticate(ctx(), early.Secret); !errors.Is(err, keys.ErrExpiredKey) {
		t.Fatalf("a child past its own expiry during the grace: %v, want ErrExpiredKey", err)
	}
	f.clock.Set(end)
	for name, tok := range map[string]string{"old root": old.Secret, "child": child.Secret} {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrRevokedKey) {
			t.Fatalf("%s at the grace end: %v, want ErrRevokedKey", name, err)
		}
	}
	if _, err := f.m.Allow(ctx(), held); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("Allow of a held retiring key at the grace end: %v", err)
	}
	f.auth(t, iss.Secret)
}

// TestGraceEndsWithoutStoreRead: a cached retiring key stops at the grace
// end by the clock alone.
func TestGraceEndsWithoutStoreRead(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{CacheTTL: time.Hour})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	if _, err := f.m.Reissue(ctx(), "acct_1", keys.WithGrace(time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.auth(t, child.Secret)
	before := cs.resolves.Load()
	f.clock.Add(time.Minute)
	if _, err := f.m.Authenticate(ctx(), child.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("at the grace end: %v", err)
	}
	if n := cs.resolves.Load() - before; n != 0 {
		t.Fatalf("%d store reads to refuse a cached key at its grace end, want 0", n)
	}
}

func TestReissueWithoutGraceEndsGrace(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	old := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	mid, err := f.m.Reissue(ctx(), "acct_1", keys.WithGrace(keys.MaxGrace))
	if err != nil {
		t.Fatal(err)
	}
	f.auth(t, child.Secret)
	if _, err := f.m.Reissue(ctx(), "acct_1", keys.WithGrace(0)); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"old root": old.Secret, "child": child.Secret, "replaced root": mid.Secret} {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrRevokedKey) {
			t.Fatalf("%s after a reissue without grace: %v", name, err)
		}
	}
}

func TestRevokeEndsGrace(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	old := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	iss, err := f.m.Reissue(ctx(), "acct_1", keys.WithGrace(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revoke(ctx(), old.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx(), child.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("child of a revoked retiring root: %v", err)
	}
	f.auth(t, iss.Secret)
}

func TestReissueOptionsInvalid(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	for name, opt := range map[string]keys.ReissueOption{
		"negative grace": keys.WithGrace(-time.Second),
		"grace too long": keys.WithGrace(keys.MaxGrace + time.Second),
		"IfRoot(nil)":    keys.IfRoot(uuid.Nil),
	} {
		if _, err := f.m.Reissue(ctx(), "acct_1", opt); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Fatalf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	f.auth(t, root.Secret) // nothing changed
}

func TestReissueConditions(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	first, err := f.m.Reissue(ctx(), "acct_1", keys.IfNoRoot())
	if err != nil {
		t.Fatalf("first key with IfNoRoot: %v", err)
	}
	if _, err := f.m.Reissue(ctx(), "acct_1", keys.IfNoRoot()); !errors.Is(err, keys.ErrRootKeyChanged) {
		t.Fatalf("IfNoRoot with a root: %v", err)
	}
	if _, err := f.m.Reissue(ctx(), "acct_1", keys.IfRoot(uuid.New())); !errors.Is(err, keys.ErrRootKeyChanged) {
		t.Fatalf("IfRoot of another key: %v", err)
	}
	f.auth(t, first.Secret)
	second, err := f.m.Reissue(ctx(), "acct_1", keys.IfRoot(first.Key.ID))
	if err != nil {
		t.Fatalf("IfRoot of the root: %v", err)
	}
	// ReissueFrom: IfRoot(itself) passes; another condition does not,
	// while the key is the active root.
	k := f.auth(t, second.Secret)
	if _, err := f.m.ReissueFrom(ctx(), k, keys.IfNoRoot()); !errors.Is(err, keys.ErrRootKeyChanged) {
		t.Fatalf("ReissueFrom with IfNoRoot: %v", err)
	}
	if _, err := f.m.ReissueFrom(ctx(), k, keys.IfRoot(first.Key.ID)); !errors.Is(err, keys.ErrRootKeyChanged) {
		t.Fatalf("ReissueFrom with IfRoot of another key: %v", err)
	}
	third, err := f.m.ReissueFrom(ctx(), k, keys.IfRoot(k.ID))
	if err != nil {
		t.Fatalf("ReissueFrom with IfRoot of itself: %v", err)
	}
	// A revoked root keeps ErrRevokedKey, whatever the condition.
	if _, err := f.m.ReissueFrom(ctx(), k, keys.IfRoot(uuid.New())); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("ReissueFrom by a revoked root with a condition: %v", err)
	}
	// After the root is revoked the account has none: IfNoRoot passes.
	if err := f.m.Revoke(ctx(), third.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Reissue(ctx(), "acct_1", keys.IfNoRoot()); err != nil {
		t.Fatalf("IfNoRoot after the root was revoked: %v", err)
	}
}

// TestFirstKeyDoubleClick: two concurrent first-key requests give one key
// and one ErrRootKeyChanged, and the key shown still works.
func TestFirstKeyDoubleClick(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []keys.Issued
	changed := 0
	for range 2 {
		wg.Go(func() {
			iss, err := f.m.Reissue(ctx(), "acct_1", keys.IfNoRoot())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, iss)
			case errors.Is(err, keys.ErrRootKeyChanged):
				changed++
			default:
				t.Errorf("Reissue: %v", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || changed != 1 {
		t.Fatalf("%d keys and %d refusals, want 1 and 1", len(won), changed)
	}
	f.auth(t, won[0].Secret)
}

func TestReissueCarriesRootName(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	iss := f.reissue(t, "acct_1")
	if iss.Key.Name != "" || iss.Key.Metadata != nil {
		t.Fatalf("a root without name or metadata passed on %q %v", iss.Key.Name, iss.Key.Metadata)
	}
}

func TestManagerNow(t *testing.T) {
	f := newFixture(t, keys.Config{})
	if !f.m.Now().Equal(start) {
		t.Fatalf("Now = %v, want the fake clock's %v", f.m.Now(), start)
	}
	f.clock.Add(time.Hour)
	if !f.m.Now().Equal(start.Add(time.Hour)) {
		t.Fatal("Now does not follow Config.Clock")
	}
}
