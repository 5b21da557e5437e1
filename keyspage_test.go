package keys_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// pageAll walks every page of size limit and returns the IDs in order,
// calling between after each page.
func pageAll(t *testing.T, f *fixture, acct string, limit int, rev bool, between func(page int)) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	cursor := ""
	for page := 0; ; page++ {
		ks, next, err := f.m.ListKeysPage(ctx(), acct, keys.Page{Limit: limit, Cursor: cursor, IncludeRevoked: rev})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(ks) > limit {
			t.Fatalf("page %d has %d keys, limit %d", page, len(ks), limit)
		}
		for _, k := range ks {
			out = append(out, k.ID)
		}
		if next == "" {
			return out
		}
		if len(ks) != limit {
			t.Fatalf("page %d: a short page with a next cursor", page)
		}
		cursor = next
		if between != nil {
			between(page)
		}
	}
}

func TestListKeysPageOrderAndCursors(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	want := []uuid.UUID{root.Key.ID}
	for i := range 7 {
		f.clock.Add(time.Second)
		// Some keys share a creation time: ties go by ID.
		c := f.child(t, "acct_1", keys.ChildOptions{})
		want = append(want, c.Key.ID)
		if i%2 == 0 {
			c2 := f.child(t, "acct_1", keys.ChildOptions{})
			want = append(want, c2.Key.ID)
		}
	}
	all, err := f.m.ListKeys(ctx(), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range all { // ListKeys' order is the reference
		want[i] = k.ID
	}
	for _, limit := range []int{1, 2, 3, 5, 11, 100} {
		got := pageAll(t, f, "acct_1", limit, false, nil)
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d keys, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("limit %d: key %d = %s, want %s", limit, i, got[i], want[i])
			}
		}
	}
	// The default page size.
	ks, next, err := f.m.ListKeysPage(ctx(), "acct_1", keys.Page{})
	if err != nil || len(ks) != len(want) || next != "" {
		t.Fatalf("default page: %d keys, next %q, %v", len(ks), next, err)
	}
}

// TestListKeysPageWhileChanging adds and revokes keys between pages: every
// key that exists unrevoked throughout is listed exactly once, in order,
// and none is listed twice.
func TestListKeysPageWhileChanging(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	var kids []keys.Issued
	for range 10 {
		f.clock.Add(time.Second)
		kids = append(kids, f.child(t, "acct_1", keys.ChildOptions{}))
	}
	revoked := map[uuid.UUID]bool{}
	var added []uuid.UUID
	got := pageAll(t, f, "acct_1", 3, false, func(page int) {
		// Revoke one key already listed and one not yet listed, and add
		// one.
		for _, i := range []int{page, 9 - page} {
			if err := f.m.Revoke(ctx(), kids[i].Key.ID); err != nil {
				t.Fatal(err)
			}
			revoked[kids[i].Key.ID] = true
		}
		f.clock.Add(time.Second)
		added = append(added, f.child(t, "acct_1", keys.ChildOptions{}).Key.ID)
	})
	seen := map[uuid.UUID]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("key %s listed twice", id)
		}
	}
	if seen[root.Key.ID] != 1 {
		t.Fatal("root missing")
	}
	for _, k := range kids {
		if !revoked[k.Key.ID] && seen[k.Key.ID] != 1 {
			t.Fatalf("key %s, never revoked, was skipped", k.Key.ID)
		}
	}
	for i, id := range added[:len(added)-1] {
		if seen[id] != 1 {
			t.Fatalf("key %d added between pages was skipped", i)
		}
	}
}

func TestListKeysPageRevokedAndBadInput(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	exp := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: ptr(start.Add(time.Minute))})
	if err := f.m.Revoke(ctx(), c.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	if got := pageAll(t, f, "acct_1", 10, false, nil); len(got) != 2 || got[1] != exp.Key.ID {
		t.Fatalf("default list (expired included, revoked not) = %v", got)
	}
	if got := pageAll(t, f, "acct_1", 10, true, nil); len(got) != 3 {
		t.Fatalf("with revoked = %v", got)
	}
	_, next, err := f.m.ListKeysPage(ctx(), "acct_1", keys.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	tampered := []byte(next)
	tampered[0] = '!' // not base64
	for _, tc := range []struct {
		opts keys.Page
		text string
	}{
		{keys.Page{Limit: -1}, "limit"},
		{keys.Page{Limit: 101}, "limit"},
		{keys.Page{Cursor: "x"}, "cursor"},
		{keys.Page{Cursor: string(tampered)}, "cursor"},
		{keys.Page{Cursor: next + "A"}, "cursor"},
		{keys.Page{Cursor: strings.Repeat("A", 34)}, "cursor"},
	} {
		_, _, err := f.m.ListKeysPage(ctx(), "acct_1", tc.opts)
		if !errors.Is(err, keys.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%+v: %v, want ErrInvalidArgument naming %s", tc.opts, err, tc.text)
		}
	}
	if _, _, err := f.m.ListKeysPage(ctx(), "nobody", keys.Page{}); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}
