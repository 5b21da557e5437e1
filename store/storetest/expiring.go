package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// expiringTests are the ListExpiringKeys cases of Run.
var expiringTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ListExpiringKeys", testListExpiringKeys},
	{"ListExpiringKeysWhileChanging", testListExpiringKeysWhileChanging},
}

// lister returns s as a store.ExpiringLister, or skips the test: the
// capability is optional.
func lister(t *testing.T, s store.Store) store.ExpiringLister {
	t.Helper()
	el, ok := s.(store.ExpiringLister)
	if !ok {
		t.Skip("the store is not a store.ExpiringLister (optional)")
	}
	return el
}

// insertExpiring inserts a child of root that expires at exp.
func insertExpiring(t *testing.T, s store.Store, root store.Key, exp time.Time) store.Key {
	t.Helper()
	k := newChild(t, root, t0)
	k.ExpiresAt = &exp
	if err := s.InsertChildKey(ctx(t), k); err != nil {
		t.Fatalf("InsertChildKey: %v", err)
	}
	return k
}

// pageExpiring reads every page of ListExpiringKeys, limit at a time,
// calling between (if set) after each page.
func pageExpiring(t *testing.T, s store.ExpiringLister, limit int, now, until time.Time, between func(page int)) []store.Key {
	t.Helper()
	var all []store.Key
	var after store.ExpiryCursor
	for page := 0; ; page++ {
		ks, err := s.ListExpiringKeys(ctx(t), after, limit, now, until)
		if err != nil {
			t.Fatalf("ListExpiringKeys: %v", err)
		}
		if len(ks) > limit {
			t.Fatalf("ListExpiringKeys(limit %d) returned %d keys", limit, len(ks))
		}
		all = append(all, ks...)
		if len(ks) < limit {
			return all
		}
		if page > 1000 {
			// More pages than the test has keys: the position is ignored.
			t.Fatalf("ListExpiringKeys(limit %d) still returns keys after %d pages", limit, page)
		}
		after = store.ExpiryCursorAfter(ks[len(ks)-1])
		if between != nil {
			between(page)
		}
	}
}

// expiryOrder returns the keys' IDs in ListExpiringKeys order.
func expiryOrder(ks ...store.Key) []uuid.UUID {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, store.CompareExpiry)
	return keyIDs(ks)
}

func testListExpiringKeys(t *testing.T, s store.Store) {
	el := lister(t, s)
	now := t0.Add(time.Hour)
	until := now.Add(7 * 24 * time.Hour)
	if ks, err := el.ListExpiringKeys(ctx(t), store.ExpiryCursor{}, 10, now, until); err != nil || len(ks) != 0 {
		t.Fatalf("ListExpiringKeys on an empty store = %v, %v", ks, err)
	}
	if _, err := el.ListExpiringKeys(ctx(t), store.ExpiryCursor{}, 0, now, until); err == nil {
		t.Fatal("ListExpiringKeys with limit 0 succeeded")
	}
	for _, a := range []string{"acct_1", "acct_2", "acct_3", "acct_4"} {
		mustAccount(t, s, a)
	}
	r1 := mustRoot(t, s, "acct_1", t0)
	r2 := mustRoot(t, s, "acct_2", t0)
	day := 24 * time.Hour

	// The bounds: after now, at or before until.
	atNow := insertExpiring(t, s, r1, now)
	justAfter := insertExpiring(t, s, r2, now.Add(time.Microsecond))
	atUntil := insertExpiring(t, s, r1, until)
	pastUntil := insertExpiring(t, s, r2, until.Add(time.Microsecond))
	expired := insertExpiring(t, s, r1, now.Add(-time.Minute))
	mustChild(t, s, r1, t0) // no expiry
	// Two accounts' keys with one expiry: ties go by ID.
	tieA := insertExpiring(t, s, r1, now.Add(day))
	tieB := insertExpiring(t, s, r2, now.Add(day))
	// A key with every list, to check the rows decode whole.
	q := int64(500)
	_, err := s.UpdateKey(ctx(t), "acct_1", tieA.ID, store.KeyUpdate{Name: store.To("ci"), RequestsPerMonth: store.To(&q),
		Scopes: store.To([]string{"prices:read"}), Metadata: store.To(map[string]string{"project": "p1"})}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Revoked outright: before now, and after it (a reader whose clock
	// runs behind the revoker's), both out.
	revoked := insertExpiring(t, s, r1, now.Add(2*day))
	if _, err := s.RevokeKey(ctx(t), revoked.ID, t0); err != nil {
		t.Fatal(err)
	}
	revokedLater := insertExpiring(t, s, r2, now.Add(2*day))
	if _, err := s.RevokeKey(ctx(t), revokedLater.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Retiring (a grace running past now): in. A grace that ended at now:
	// out.
	r3 := mustRoot(t, s, "acct_3", t0)
	retiring := insertExpiring(t, s, r3, now.Add(3*day))
	rotate(t, s, "acct_3", store.Rotation{Now: t0, GraceEnd: now.Add(4 * day)})
	r4 := mustRoot(t, s, "acct_4", t0)
	graceOver := insertExpiring(t, s, r4, now.Add(3*day))
	rotate(t, s, "acct_4", store.Rotation{Now: t0, GraceEnd: now})
	if k := mustKey(t, s, retiring.ID); !k.Retiring || k.RevokedAt == nil {
		t.Fatalf("the retiring key after a rotation with a grace: %+v", k)
	}

	want := expiryOrder(justAfter, tieA, tieB, retiring, atUntil)
	out := map[uuid.UUID]string{atNow.ID: "expiring at now", pastUntil.ID: "expiring after until",
		expired.ID: "expired", revoked.ID: "revoked", revokedLater.ID: "revoked outright at a later time",
		graceOver.ID: "retired at now"}
	for _, limit := range []int{1, 2, 3, 5, 100} {
		got := pageExpiring(t, el, limit, now, until, nil)
		for _, k := range got {
			if why, ok := out[k.ID]; ok {
				t.Fatalf("limit %d: the key %s was listed", limit, why)
			}
		}
		if ids := keyIDs(got); !slices.Equal(ids, want) {
			t.Fatalf("limit %d: %v, want %v (just after now, the tie by ID, retiring, at until)", limit, ids, want)
		}
	}
	// Every field as stored, across accounts.
	for _, k := range pageExpiring(t, el, 100, now, until, nil) {
		if stored := mustKey(t, s, k.ID); !reflect.DeepEqual(k, stored) {
			t.Fatalf("ListExpiringKeys returned\n%+v\nKey has\n%+v", k, stored)
		}
	}
	// The window moves with now: at now+day, tieA and tieB expire then
	// (out) and pastUntil is in.
	later := now.Add(day)
	if ids := keyIDs(pageExpiring(t, el, 2, later, later.Add(7*day), nil)); !slices.Equal(ids, expiryOrder(retiring, atUntil, pastUntil)) {
		t.Fatalf("a day later: %v, want retiring, atUntil, pastUntil", ids)
	}
	// An empty window.
	for _, u := range []time.Time{now, now.Add(-day)} {
		if ks, err := el.ListExpiringKeys(ctx(t), store.ExpiryCursor{}, 10, now, u); err != nil || len(ks) != 0 {
			t.Fatalf("ListExpiringKeys with until %v before now = %v, %v", u.Sub(now), keyIDs(ks), err)
		}
	}
}

func testListExpiringKeysWhileChanging(t *testing.T, s store.Store) {
	el := lister(t, s)
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	roots := []store.Key{mustRoot(t, s, "acct_1", t0), mustRoot(t, s, "acct_2", t0)}
	now := t0.Add(time.Hour)
	var keys []store.Key
	for i := range 8 {
		keys = append(keys, insertExpiring(t, s, roots[i%2], now.Add(time.Duration(i+1)*time.Hour)))
	}
	var added []store.Key
	got := pageExpiring(t, el, 3, now, now.Add(24*time.Hour), func(page int) {
		if page != 0 {
			return
		}
		// After the first page (keys 0-2): revoke one key seen and one not
		// yet seen, and add one before the position (not listed) and one
		// after it (listed).
		for _, k := range []store.Key{keys[1], keys[5]} {
			if _, err := s.RevokeKey(ctx(t), k.ID, t0); err != nil {
				t.Fatal(err)
			}
		}
		insertExpiring(t, s, roots[0], now.Add(30*time.Minute))
		added = append(added, insertExpiring(t, s, roots[1], now.Add(20*time.Hour)))
	})
	want := keyIDs([]store.Key{keys[0], keys[1], keys[2], keys[3], keys[4], keys[6], keys[7], added[0]})
	if ids := keyIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("paging while keys change: %v, want %v", ids, want)
	}
}
