package storetest

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// The cases of AccountUsage and UpdateKey, registered in Run.

func testAccountUsage(t *testing.T, s store.Store) {
	m := store.MonthOf(t0)
	u, err := s.AccountUsage(ctx(t), "nobody", m)
	if err != nil || u.Account != 0 || len(u.Keys) != 0 {
		t.Fatalf("AccountUsage(unknown) = %+v, %v", u, err)
	}
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	root := mustRoot(t, s, "acct_1", t0)
	c1 := mustChild(t, s, root, t0)
	idle := mustChild(t, s, root, t0)
	other := mustRoot(t, s, "acct_2", t0)
	_, err = s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{
		{AccountID: "acct_1", KeyID: root.ID, Month: m, N: 3},
		{AccountID: "acct_1", KeyID: c1.ID, Month: m, N: 4},
		{AccountID: "acct_1", KeyID: c1.ID, Month: m.Next(), N: 100}, // another month
		{AccountID: "acct_2", KeyID: other.ID, Month: m, N: 7},       // another account
		{AccountID: "acct_1", KeyID: uuid.New(), Month: m, N: 5},     // a key that does not exist
	})
	if err != nil {
		t.Fatal(err)
	}
	// A revoked key's count is still reported.
	if _, err := s.RevokeKey(ctx(t), c1.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	u, err = s.AccountUsage(ctx(t), "acct_1", m)
	if err != nil {
		t.Fatalf("AccountUsage: %v", err)
	}
	if u.Account != 12 {
		t.Errorf("account count = %d, want 12 (3 + 4 + 5 of the ledger)", u.Account)
	}
	want := map[uuid.UUID]int64{root.ID: 3, c1.ID: 4}
	if len(u.Keys) != len(want) {
		t.Errorf("keys = %v, want %v", u.Keys, want)
	}
	for id, n := range want {
		if u.Keys[id] != n {
			t.Errorf("key %s = %d, want %d", id, u.Keys[id], n)
		}
	}
	if _, ok := u.Keys[idle.ID]; ok {
		t.Errorf("a key that never counted has an entry")
	}
	u, err = s.AccountUsage(ctx(t), "acct_1", m.Next())
	if err != nil || u.Account != 100 || u.Keys[c1.ID] != 100 || len(u.Keys) != 1 {
		t.Fatalf("next month = %+v, %v", u, err)
	}
	u, err = s.AccountUsage(ctx(t), "acct_2", m.Next().Next())
	if err != nil || u.Account != 0 || len(u.Keys) != 0 {
		t.Fatalf("a month without counts = %+v, %v", u, err)
	}
}

func testUpdateKey(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	c := newChild(t, root, t0)
	c.Name = "old"
	q, r := int64(50), 5
	c.RequestsPerMonth, c.RequestsPerMinute = &q, &r
	if err := s.InsertChildKey(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)

	// An empty update changes nothing and returns the key.
	got, err := s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{}, now)
	if err != nil || got.ID != c.ID || got.Name != "old" || got.RequestsPerMonth == nil || *got.RequestsPerMonth != 50 {
		t.Fatalf("empty UpdateKey = %+v, %v", got, err)
	}

	exp := t0.Add(time.Hour + 123*time.Microsecond)
	q2 := int64(70)
	got, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{
		Name: store.To("new"), ExpiresAt: store.To(&exp), RequestsPerMonth: store.To(&q2),
	}, now)
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	for _, k := range []store.Key{got, mustKey(t, s, c.ID)} {
		if k.Name != "new" || k.RequestsPerMonth == nil || *k.RequestsPerMonth != 70 {
			t.Fatalf("after update: %+v", k)
		}
		wantTime(t, "ExpiresAt", k.ExpiresAt, exp)
		// Fields not Set are left alone, and so is everything else.
		if k.RequestsPerMinute == nil || *k.RequestsPerMinute != 5 || k.RevokedAt != nil ||
			k.Hash != c.Hash || k.RootKeyID != root.ID || !sameTime(k.CreatedAt, t0) || k.Prefix != c.Prefix {
			t.Fatalf("UpdateKey changed a field it was not asked to: %+v", k)
		}
	}
	// The caller's values are copied, not shared.
	exp = exp.Add(time.Hour)
	q2 = 1
	if k := mustKey(t, s, c.ID); !sameTime(*k.ExpiresAt, t0.Add(time.Hour+123*time.Microsecond)) || *k.RequestsPerMonth != 70 {
		t.Fatalf("the store shares memory with the update: %+v", k)
	}

	// nil clears.
	got, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{
		Name: store.To(""), ExpiresAt: store.To[*time.Time](nil),
		RequestsPerMonth: store.To[*int64](nil), RequestsPerMinute: store.To[*int](nil),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.Key{got, mustKey(t, s, c.ID)} {
		if k.Name != "" || k.ExpiresAt != nil || k.RequestsPerMonth != nil || k.RequestsPerMinute != nil {
			t.Fatalf("after clearing: %+v", k)
		}
	}

	// Scopes, metadata and networks are replaced whole, and nil clears.
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	md := map[string]string{"project": "p1", "team": "x"}
	got, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{
		Scopes: store.To([]string{"a:read", "b:write"}), Metadata: store.To(md), AllowedNetworks: store.To(nets),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	md["project"] = "changed by the caller"
	for _, k := range []store.Key{got, mustKey(t, s, c.ID)} {
		if !slices.Equal(k.Scopes, []string{"a:read", "b:write"}) || len(k.Metadata) != 2 || k.Metadata["project"] != "p1" ||
			!slices.Equal(k.AllowedNetworks, nets) {
			t.Fatalf("after setting lists: %+v", k)
		}
	}
	got, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{Metadata: store.To(map[string]string{"only": "one"})}, now)
	if err != nil || len(got.Metadata) != 1 || got.Metadata["only"] != "one" || len(got.Scopes) != 2 || len(got.AllowedNetworks) != 2 {
		t.Fatalf("replacing metadata alone: %+v, %v", got, err)
	}
	got, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{
		Scopes: store.To[[]string](nil), Metadata: store.To(map[string]string{}), AllowedNetworks: store.To[[]netip.Prefix](nil),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.Key{got, mustKey(t, s, c.ID)} {
		if k.Scopes != nil || k.Metadata != nil || k.AllowedNetworks != nil {
			t.Fatalf("after clearing lists: scopes %#v metadata %#v networks %#v", k.Scopes, k.Metadata, k.AllowedNetworks)
		}
	}

	// The key still resolves as itself.
	if res, err := s.ResolveHash(ctx(t), c.Hash); err != nil || res.Key.ID != c.ID {
		t.Fatalf("ResolveHash after update = %+v, %v", res, err)
	}
}

func testUpdateKeyRefusals(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	root := mustRoot(t, s, "acct_1", t0)
	c := mustChild(t, s, root, t0)
	now := t0.Add(time.Minute)
	rename := store.KeyUpdate{Name: store.To("x")}

	_, err := s.UpdateKey(ctx(t), "acct_1", uuid.New(), rename, now)
	wantErr(t, "unknown key", err, store.ErrNotFound)
	_, err = s.UpdateKey(ctx(t), "acct_2", c.ID, rename, now)
	wantErr(t, "another account's key", err, store.ErrNotFound)
	_, err = s.UpdateKey(ctx(t), "nobody", c.ID, store.KeyUpdate{}, now)
	wantErr(t, "unknown account, empty update", err, store.ErrNotFound)
	if mustKey(t, s, c.ID).Name != "" {
		t.Fatal("a refused update changed the key")
	}

	// A key in a grace (its root reissued with one) is not revoked yet: it
	// may be changed, and the change keeps its RevokedAt.
	end := t0.Add(time.Hour)
	rotate(t, s, "acct_1", store.Rotation{Now: now, GraceEnd: end})
	got, err := s.UpdateKey(ctx(t), "acct_1", c.ID, rename, now)
	if err != nil {
		t.Fatalf("update of a key revoked later: %v", err)
	}
	wantTime(t, "RevokedAt after update", got.RevokedAt, end)
	if got.Name != "x" {
		t.Fatalf("name = %q", got.Name)
	}
	// At and after RevokedAt it is revoked: refused, unchanged.
	for _, at := range []time.Time{end, end.Add(time.Second)} {
		_, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{Name: store.To("y")}, at)
		wantErr(t, "revoked key", err, store.ErrRevoked)
		_, err = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{}, at)
		wantErr(t, "revoked key, empty update", err, store.ErrRevoked)
	}
	k := mustKey(t, s, c.ID)
	if k.Name != "x" {
		t.Fatalf("a refused update changed the name to %q", k.Name)
	}
	wantTime(t, "RevokedAt", k.RevokedAt, end)
	// Not-found wins over revoked: another account learns nothing.
	_, err = s.UpdateKey(ctx(t), "acct_2", c.ID, rename, end)
	wantErr(t, "another account's revoked key", err, store.ErrNotFound)
}

// testUpdateKeyRacesRevoke checks that an update and a revocation of one
// key serialise: whatever the order, the key ends revoked, and an update
// that succeeded was not undone by the revocation nor the other way round.
func testUpdateKeyRacesRevoke(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	const n = 8
	children := make([]store.Key, n)
	for i := range children {
		children[i] = mustChild(t, s, root, t0)
	}
	now := t0.Add(time.Minute)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range children {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UpdateKey(ctx(t), "acct_1", c.ID, store.KeyUpdate{Name: store.To("renamed")}, now)
		}()
		go func() {
			defer wg.Done()
			if _, err := s.RevokeKey(ctx(t), c.ID, now); err != nil {
				t.Errorf("RevokeKey: %v", err)
			}
		}()
	}
	wg.Wait()
	for i, c := range children {
		k := mustKey(t, s, c.ID)
		if k.RevokedAt == nil {
			t.Fatalf("child %d lost its revocation to an update", i)
		}
		switch {
		case errs[i] == nil && k.Name != "renamed":
			t.Fatalf("child %d: update succeeded but name = %q", i, k.Name)
		case errs[i] != nil && !errors.Is(errs[i], store.ErrRevoked):
			t.Fatalf("child %d: update error %v, want nil or ErrRevoked", i, errs[i])
		case errs[i] != nil && k.Name != "":
			t.Fatalf("child %d: refused update changed the name", i)
		}
	}
}
