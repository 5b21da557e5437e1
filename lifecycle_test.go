package keys_test

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

func TestListKeysPage(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.account(t, "acct_2", keys.Pro)
	f.reissue(t, "acct_1")
	f.reissue(t, "acct_2")
	for range 6 {
		f.clock.Add(time.Second)
		f.child(t, "acct_1", keys.ChildOptions{})
	}
	exp := start.Add(time.Hour)
	f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp}) // expires, stays listed
	all, err := f.m.ListKeys(ctx(), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revoke(ctx(), all[2].ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Hour)
	all, _ = f.m.ListKeys(ctx(), "acct_1")

	pages := func(p keys.Page) (ids []uuid.UUID, n int) {
		t.Helper()
		for {
			ks, next, err := f.m.ListKeysPage(ctx(), "acct_1", p)
			if err != nil {
				t.Fatalf("ListKeysPage(%+v): %v", p, err)
			}
			n++
			for _, k := range ks {
				ids = append(ids, k.ID)
				if k.Effective.RequestsPerMinute == 0 {
					t.Fatalf("key %s without its effective limits", k.ID)
				}
			}
			if next == "" {
				return ids, n
			}
			p.Cursor = next
		}
	}
	var wantAll, wantDefault []uuid.UUID
	for _, k := range all {
		wantAll = append(wantAll, k.ID)
		if k.RevokedAt == nil {
			wantDefault = append(wantDefault, k.ID)
		}
	}
	if got, n := pages(keys.Page{Limit: 3, IncludeRevoked: true}); !slices.Equal(got, wantAll) || n != 3 {
		t.Fatalf("with revoked, 3 a page: %v in %d pages, want %v in 3", got, n, wantAll)
	}
	if got, n := pages(keys.Page{Limit: 4}); !slices.Equal(got, wantDefault) || n != 2 {
		t.Fatalf("default, 4 a page: %v in %d pages, want %v in 2", got, n, wantDefault)
	}
	// An exact fit ends with an empty cursor, not an empty extra page.
	if got, n := pages(keys.Page{Limit: len(wantDefault)}); !slices.Equal(got, wantDefault) || n != 1 {
		t.Fatalf("one full page: %v in %d pages", got, n)
	}
	if got, _ := pages(keys.Page{}); !slices.Equal(got, wantDefault) {
		t.Fatalf("default page size: %v", got)
	}

	for _, p := range []keys.Page{{Limit: -1}, {Limit: keys.MaxPageLimit + 1}, {Cursor: "not a cursor"}, {Cursor: "AAAA"}} {
		if _, _, err := f.m.ListKeysPage(ctx(), "acct_1", p); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Fatalf("ListKeysPage(%+v) = %v, want ErrInvalidArgument", p, err)
		}
	}
	if _, _, err := f.m.ListKeysPage(ctx(), "nobody", keys.Page{}); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	// A cursor from one account positions another's list and shows only
	// that account's keys.
	_, next, _ := f.m.ListKeysPage(ctx(), "acct_1", keys.Page{Limit: 1})
	ks, _, err := f.m.ListKeysPage(ctx(), "acct_2", keys.Page{Cursor: next})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.AccountID != "acct_2" {
			t.Fatalf("a foreign cursor showed %s of %s", k.ID, k.AccountID)
		}
	}
}

func TestPruneRevoked(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	old := f.reissue(t, "acct_1")
	oldChild := f.child(t, "acct_1", keys.ChildOptions{})
	f.clock.Add(time.Hour)
	cur := f.reissue(t, "acct_1") // revokes old and oldChild now
	f.clock.Add(24 * time.Hour)

	if _, err := f.m.PruneRevoked(ctx(), -time.Second); !errors.Is(err, keys.ErrInvalidArgument) {
		t.Fatalf("negative olderThan: %v", err)
	}
	if n, err := f.m.PruneRevoked(ctx(), 25*time.Hour); err != nil || n != 0 {
		t.Fatalf("PruneRevoked(25h) = %d, %v; want 0: the keys were revoked 24h ago", n, err)
	}
	if _, err := f.m.Authenticate(ctx(), old.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("before pruning: %v", err)
	}
	if n, err := f.m.PruneRevoked(ctx(), 24*time.Hour); err != nil || n != 2 {
		t.Fatalf("PruneRevoked(24h) = %d, %v; want 2", n, err)
	}
	for _, iss := range []keys.Issued{old, oldChild} {
		if _, err := f.m.Key(ctx(), iss.Key.ID); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("Key of a pruned key: %v", err)
		}
	}
	// A pruned token is unknown once its cache entry is gone.
	f.clock.Add(time.Hour)
	if _, err := f.m.Authenticate(ctx(), oldChild.Secret); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("a pruned token: %v, want ErrUnknownKey", err)
	}
	f.auth(t, cur.Secret)
	ks, _ := f.m.ListKeys(ctx(), "acct_1")
	if len(ks) != 1 || ks[0].ID != cur.Key.ID {
		t.Fatalf("after pruning: %v", ks)
	}
}

// A tampered cursor out of the years every store keeps is refused before
// the store (PostgreSQL would fail on it: a 500 for a client's mistake).
func TestListKeysPageCursorOutOfRange(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	for _, raw := range [][]byte{
		{0x80, 0, 0, 0, 0, 0, 0, 0},
		{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		b := append(raw[:8:8], make([]byte, 16)...)
		b[8] = 1 // a non-nil ID
		_, _, err := f.m.ListKeysPage(ctx(), "acct_1", keys.Page{Cursor: base64.RawURLEncoding.EncodeToString(b)})
		if !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("cursor with time %x: %v, want ErrInvalidArgument", raw[:8], err)
		}
	}
}

// A Key held by a Manager whose clock runs behind the revoker's is refused
// by Allow: a revocation outright is final, whatever the clock says of its
// RevokedAt.
func TestAllowRefusesKeyRevokedAheadOfThisClock(t *testing.T) {
	st := memstore.New()
	ahead := newFixtureOn(t, st, keys.Config{})
	ahead.clock.Add(time.Hour)
	behind := newFixtureOn(t, st, keys.Config{})
	ahead.account(t, "acct_1", keys.Pro)
	ahead.reissue(t, "acct_1")
	c := ahead.child(t, "acct_1", keys.ChildOptions{})
	if err := ahead.m.Revoke(ctx(), c.Key.ID); err != nil {
		t.Fatal(err)
	}
	k, err := behind.m.AccountKey(ctx(), "acct_1", c.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.Active(behind.m.Now()) {
		t.Error("Active: a key revoked outright reads as active to a clock behind its RevokedAt")
	}
	if _, err := behind.m.Allow(ctx(), k); !errors.Is(err, keys.ErrRevokedKey) {
		t.Errorf("Allow of a key revoked outright, clock behind: %v, want ErrRevokedKey", err)
	}
	if _, err := behind.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Errorf("Authenticate: %v, want ErrRevokedKey", err)
	}
}

// The audit trail's cursor is read like the key list's: out of range is
// ErrInvalidArgument, not a store error.
func TestAuditEventsCursorOutOfRange(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	b := make([]byte, 24)
	b[0], b[8] = 0x80, 1
	_, _, err := f.m.AuditEvents(ctx(), "acct_1", keys.Page{Cursor: base64.RawURLEncoding.EncodeToString(b)})
	if !errors.Is(err, keys.ErrInvalidArgument) {
		t.Errorf("AuditEvents with an out-of-range cursor: %v, want ErrInvalidArgument", err)
	}
}
