package keys_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/store"
)

func TestAccountKeyOwnership(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.account(t, "acct_2", keys.Pro)
	f.reissue(t, "acct_1")
	f.reissue(t, "acct_2")
	mine := f.child(t, "acct_1", keys.ChildOptions{Name: "mine"})
	theirs := f.child(t, "acct_2", keys.ChildOptions{})
	k, err := f.m.AccountKey(ctx(), "acct_1", mine.Key.ID)
	if err != nil || k.Name != "mine" {
		t.Fatalf("AccountKey of its own key: %+v, %v", k, err)
	}
	for name, id := range map[string]uuid.UUID{"another account's key": theirs.Key.ID, "no key": uuid.New()} {
		if _, err := f.m.AccountKey(ctx(), "acct_1", id); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("AccountKey of %s: %v", name, err)
		}
		if err := f.m.RevokeAccountKey(ctx(), "acct_1", id); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("RevokeAccountKey of %s: %v", name, err)
		}
	}
	f.auth(t, theirs.Secret) // untouched
	if err := f.m.RevokeAccountKey(ctx(), "acct_1", mine.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx(), mine.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("after RevokeAccountKey: %v", err)
	}
}

func TestDeleteAccount(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.account(t, "acct_2", keys.Pro)
	root := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})
	other := f.reissue(t, "acct_2")
	k := f.auth(t, child.Secret) // cached
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	if err := f.m.DeleteAccount(ctx(), "acct_1"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	for _, tok := range []string{root.Secret, child.Secret} {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("a deleted account's key: %v, want ErrUnknownKey", err)
		}
	}
	if _, err := f.m.Account(ctx(), "acct_1"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("Account after DeleteAccount: %v", err)
	}
	if err := f.m.DeleteAccount(ctx(), "acct_1"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("DeleteAccount again: %v", err)
	}
	f.auth(t, other.Secret)
	// Nothing of the deleted account is flushed back.
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	f.account(t, "acct_1", keys.Pro)
	u, err := f.st.Usage(ctx(), "acct_1", k.ID, storeMonth(f))
	if err != nil || u.Account != 0 || u.Key != 0 {
		t.Fatalf("usage of the deleted account after a flush: %+v, %v", u, err)
	}
}

func TestListAccountsPaging(t *testing.T) {
	f := newFixture(t, keys.Config{})
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("acct_%02d", i)
		want = append(want, id)
		f.account(t, id, keys.Free)
	}
	var got []string
	cursor := ""
	for pages := 1; ; pages++ {
		p, err := f.m.ListAccounts(ctx(), cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Accounts {
			got = append(got, a.ID)
		}
		if p.Next == "" {
			if pages != 3 {
				t.Fatalf("%d pages of 3 for 7 accounts", pages)
			}
			break
		}
		cursor = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("accounts = %v, want %v", got, want)
	}
	// An exact multiple of the page size ends without an empty page.
	if p, _ := f.m.ListAccounts(ctx(), "acct_03", 3); len(p.Accounts) != 3 || p.Next != "" {
		t.Fatalf("last full page: %d accounts, next %q", len(p.Accounts), p.Next)
	}
	for _, n := range []int{-1, keys.MaxAccountPage + 1} {
		if _, err := f.m.ListAccounts(ctx(), "", n); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Fatalf("page size %d: %v", n, err)
		}
	}
}

func storeMonth(f *fixture) store.Month { return store.MonthOf(f.m.Now()) }
