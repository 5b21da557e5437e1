package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys"
)

// fakeAccounts is an accountLister over a sorted slice, paged as the
// store pages: IDs ascending, after the cursor.
type fakeAccounts []keys.Account

func (f fakeAccounts) ListAccounts(_ context.Context, cursor string, limit int) ([]keys.Account, string, error) {
	i, _ := slices.BinarySearchFunc(f, cursor, func(a keys.Account, id string) int { return strings.Compare(a.ID, id) })
	if i < len(f) && f[i].ID == cursor {
		i++
	}
	page := f[i:min(i+limit, len(f))]
	next := ""
	if i+limit < len(f) {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func TestAccountListPages(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := fakeAccounts{
		{ID: "a1", Tier: keys.Free, CreatedAt: at}, {ID: "a2", Tier: "tiny", CreatedAt: at},
		{ID: "b 1", Tier: keys.Pro, EmailVerified: true, CreatedAt: at}, {ID: "c1", Tier: keys.Quant, CreatedAt: at},
		{ID: "d1", Tier: keys.Starter, CreatedAt: at},
	}
	tiers := keys.DefaultTiers()
	var stdout bytes.Buffer
	e := &env{stdout: &stdout}

	// Text: two per page, the next page's command under each, the note
	// instead of limits for the tier not configured here.
	if err := listAccounts(context.Background(), e, &common{}, f, tiers, "", 2); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"a1", "60/min", "a2", "tier tiny is not configured here", "next page: keys account list -after a2 -limit 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("first page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "b 1") || strings.Count(out, "/min") != 1 {
		t.Errorf("first page:\n%s", out)
	}

	// JSON: walk every page by its next cursor.
	var ids []string
	after := ""
	for range 5 {
		stdout.Reset()
		if err := listAccounts(context.Background(), e, &common{json: true}, f, tiers, after, 2); err != nil {
			t.Fatal(err)
		}
		var page accountPageView
		if err := json.Unmarshal(stdout.Bytes(), &page); err != nil {
			t.Fatalf("%v\n%s", err, stdout.String())
		}
		for _, a := range page.Accounts {
			ids = append(ids, a.ID)
			if (a.Rate == nil) != (a.Tier == "tiny") {
				t.Errorf("account %s: rate %v", a.ID, a.Rate)
			}
		}
		if page.Next == nil {
			break
		}
		after = *page.Next
	}
	if !slices.Equal(ids, []string{"a1", "a2", "b 1", "c1", "d1"}) {
		t.Errorf("pages walked %q", ids)
	}
	// A cursor that needs quoting is quoted for the shell.
	stdout.Reset()
	if err := listAccounts(context.Background(), e, &common{}, f, tiers, "a2", 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "-after 'b 1' -limit 1") {
		t.Errorf("cursor not quoted:\n%s", stdout.String())
	}
}

// TestAccountListWithoutListing pins this branch's state: the store has no
// account listing, and the command says so (exit 1) instead of printing
// an empty list.
func TestAccountListWithoutListing(t *testing.T) {
	db, _ := newDB(t)
	code, out, errOut := runIn(t, db, "", "account", "list")
	if code != exitFail || out != "" || !strings.Contains(errOut, "cannot list accounts") {
		t.Errorf("account list: exit %d, %q, %q", code, out, errOut)
	}
}
