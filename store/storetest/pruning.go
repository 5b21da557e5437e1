package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// pruningTests are the cases of the settings, pruning and paging methods.
var pruningTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"InitSetting", testInitSetting},
	{"InitSettingConcurrent", testInitSettingConcurrent},
	{"PruneRevoked", testPruneRevoked},
	{"ListKeysPage", testListKeysPage},
	{"ListKeysPageWhileChanging", testListKeysPageWhileChanging},
}

func testInitSetting(t *testing.T, s store.Store) {
	for _, tc := range []struct{ name, value, want string }{
		{"pepper", "abc", "abc"},
		{"pepper", "xyz", "abc"}, // written once, never changed
		{"other", "", ""},
		{"other", "later", ""},
		{strings.Repeat("n", 128), "v", "v"},
	} {
		got, err := s.InitSetting(ctx(t), tc.name, tc.value)
		if err != nil || got != tc.want {
			t.Fatalf("InitSetting(%.10q, %q) = %q, %v; want %q", tc.name, tc.value, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", strings.Repeat("n", 129)} {
		if _, err := s.InitSetting(ctx(t), bad, "v"); err == nil {
			t.Fatalf("InitSetting with a %d-byte name succeeded", len(bad))
		}
	}
}

func testInitSettingConcurrent(t *testing.T, s store.Store) {
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.InitSetting(ctx(t), "race", fmt.Sprint(i))
			if err != nil {
				t.Errorf("InitSetting: %v", err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] || v == "" {
			t.Fatalf("concurrent InitSetting calls saw different values: %q", got)
		}
	}
}

func testPruneRevoked(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	r1 := mustRoot(t, s, "acct_1", t0)
	c1 := mustChild(t, s, r1, t0)
	c2 := mustChild(t, s, r1, t0)
	month := store.MonthOf(t0)
	if _, err := s.AddUsage(ctx(t), uuid.Nil, []store.UsageDelta{{AccountID: "acct_1", KeyID: c1.ID, Month: month, N: 5}}); err != nil {
		t.Fatal(err)
	}
	reissued := t0.Add(time.Hour)
	r2 := mustRoot(t, s, "acct_1", reissued) // revokes r1, c1, c2
	c3 := mustChild(t, s, r2, reissued)
	c4 := mustChild(t, s, r2, reissued)
	if _, err := s.RevokeKey(ctx(t), c3.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t, s, "acct_2", t0)
	if _, err := s.RevokeKey(ctx(t), other.ID, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneRevoked(ctx(t), reissued.Add(-time.Microsecond))
	if err != nil || n != 1 {
		t.Fatalf("PruneRevoked before the reissue = %d, %v; want 1 (acct_2's root)", n, err)
	}
	// "At or before": keys revoked exactly at the bound go.
	n, err = s.PruneRevoked(ctx(t), reissued)
	if err != nil || n != 3 {
		t.Fatalf("PruneRevoked at the reissue = %d, %v; want 3 (r1, c1, c2)", n, err)
	}
	for _, k := range []store.Key{r1, c1, c2, other} {
		_, err := s.Key(ctx(t), k.ID)
		wantErr(t, "Key of a pruned key", err, store.ErrNotFound)
		_, err = s.ResolveHash(ctx(t), k.Hash)
		wantErr(t, "ResolveHash of a pruned key", err, store.ErrNotFound)
	}
	ks, err := s.ListKeys(ctx(t), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if ids := keyIDs(ks); !slices.Equal(ids, sortedIDs(r2, c3, c4)) {
		t.Fatalf("ListKeys after pruning = %v, want r2, c3, c4", ids)
	}
	u, err := s.Usage(ctx(t), "acct_1", c1.ID, month)
	if err != nil || u.Key != 0 || u.Account != 5 {
		t.Fatalf("Usage after pruning = %+v, %v; want the key's count gone and the account's kept (5)", u, err)
	}
	if n, err := s.PruneRevoked(ctx(t), reissued); err != nil || n != 0 {
		t.Fatalf("PruneRevoked again = %d, %v; want 0", n, err)
	}
	// A pruned key's hash and ID are free again.
	again := newChild(t, r2, reissued)
	again.Hash = c1.Hash
	if err := s.InsertChildKey(ctx(t), again); err != nil {
		t.Fatalf("InsertChildKey with a pruned key's hash: %v", err)
	}
	if n, err := s.PruneRevoked(ctx(t), t0.Add(3*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneRevoked after c3's revocation = %d, %v; want 1", n, err)
	}
	if k := mustKey(t, s, r2.ID); k.RevokedAt != nil {
		t.Fatal("PruneRevoked changed an active key")
	}
	mustKey(t, s, c4.ID)
}

// sortedIDs returns the keys' IDs in ListKeys order.
func sortedIDs(ks ...store.Key) []uuid.UUID {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, store.CompareKeys)
	return keyIDs(ks)
}

func keyIDs(ks []store.Key) []uuid.UUID {
	out := make([]uuid.UUID, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

// pageAll reads every page of the account's keys, limit at a time, calling
// between (if set) after each page.
func pageAll(t *testing.T, s store.Store, account string, limit int, revoked bool, now time.Time, between func(page int)) []store.Key {
	t.Helper()
	var all []store.Key
	var after store.KeyCursor
	for page := 0; ; page++ {
		ks, err := s.ListKeysPage(ctx(t), account, after, limit, revoked, now)
		if err != nil {
			t.Fatalf("ListKeysPage: %v", err)
		}
		if len(ks) > limit {
			t.Fatalf("ListKeysPage(limit %d) returned %d keys", limit, len(ks))
		}
		all = append(all, ks...)
		if len(ks) < limit {
			return all
		}
		after = store.CursorAfter(ks[len(ks)-1])
		if between != nil {
			between(page)
		}
	}
}

func testListKeysPage(t *testing.T, s store.Store) {
	ks, err := s.ListKeysPage(ctx(t), "nobody", store.KeyCursor{}, 10, true, t0)
	if err != nil || len(ks) != 0 {
		t.Fatalf("ListKeysPage(unknown) = %v, %v", ks, err)
	}
	if _, err := s.ListKeysPage(ctx(t), "nobody", store.KeyCursor{}, 0, true, t0); err == nil {
		t.Fatal("ListKeysPage with limit 0 succeeded")
	}
	mustAccount(t, s, "acct_1")
	mustAccount(t, s, "acct_2")
	root := mustRoot(t, s, "acct_1", t0)
	mustRoot(t, s, "acct_2", t0)
	var children []store.Key
	for i := range 7 {
		// Pairs share a creation time, so ties are broken by ID.
		children = append(children, mustChild(t, s, root, t0.Add(time.Duration(i/2)*time.Second)))
	}
	exp := t0.Add(time.Minute)
	expiring := newChild(t, root, t0.Add(10*time.Second))
	expiring.ExpiresAt = &exp
	if err := s.InsertChildKey(ctx(t), expiring); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx(t), children[1].ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all := append([]store.Key{root, expiring}, children...)
	wantAll := sortedIDs(all...)
	var notRevoked []store.Key
	for _, k := range all {
		if k.ID != children[1].ID {
			notRevoked = append(notRevoked, k)
		}
	}
	wantNotRevoked := sortedIDs(notRevoked...)
	later := t0.Add(2 * time.Hour)
	for _, limit := range []int{1, 2, 3, 9, 100} {
		if got := keyIDs(pageAll(t, s, "acct_1", limit, true, later, nil)); !slices.Equal(got, wantAll) {
			t.Fatalf("limit %d, revoked included: %v, want %v", limit, got, wantAll)
		}
		// Expired keys stay in the default list; revoked ones leave it.
		if got := keyIDs(pageAll(t, s, "acct_1", limit, false, later, nil)); !slices.Equal(got, wantNotRevoked) {
			t.Fatalf("limit %d, revoked left out: %v, want %v", limit, got, wantNotRevoked)
		}
	}
	// A key revoked outright is revoked whatever the caller's clock says of
	// its RevokedAt (a reader whose clock runs behind the revoker's); only
	// a retiring key is judged against now (RotateGrace's cases).
	if got := keyIDs(pageAll(t, s, "acct_1", 4, false, t0.Add(30*time.Minute), nil)); !slices.Equal(got, wantNotRevoked) {
		t.Fatalf("listing with a clock behind the revocation: %v, want %v", got, wantNotRevoked)
	}
	ks, err = s.ListKeysPage(ctx(t), "acct_1", store.KeyCursor{}, 100, true, later)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := s.ListKeys(ctx(t), "acct_1")
	for i := range ks {
		if ks[i].ID != full[i].ID || ks[i].Hash != full[i].Hash || (ks[i].RevokedAt == nil) != (full[i].RevokedAt == nil) ||
			(ks[i].ExpiresAt == nil) != (full[i].ExpiresAt == nil) {
			t.Fatalf("ListKeysPage[%d] = %+v, ListKeys has %+v", i, ks[i], full[i])
		}
	}
}

func testListKeysPageWhileChanging(t *testing.T, s store.Store) {
	mustAccount(t, s, "acct_1")
	root := mustRoot(t, s, "acct_1", t0)
	var children []store.Key
	for i := range 8 {
		children = append(children, mustChild(t, s, root, t0.Add(time.Duration(i)*time.Second)))
	}
	now := t0.Add(time.Hour)
	var added []store.Key
	got := pageAll(t, s, "acct_1", 3, false, now, func(page int) {
		if page != 0 {
			return
		}
		// After the first page (root, c0, c1): revoke one key already
		// seen and one not yet seen, and issue two more.
		for _, k := range []store.Key{children[0], children[5]} {
			if _, err := s.RevokeKey(ctx(t), k.ID, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			added = append(added, mustChild(t, s, root, t0.Add(time.Minute)))
		}
	})
	want := []store.Key{root, children[0], children[1], children[2], children[3], children[4], children[6], children[7]}
	want = append(want, added...)
	if ids := keyIDs(got); !slices.Equal(ids, sortedIDs(want...)) {
		t.Fatalf("paging while keys change: %v, want %v (each key once, the new ones last)", ids, sortedIDs(want...))
	}
}
