package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyward/keys"
)

// accountLister lists accounts a page at a time: IDs ascending, the limit
// after cursor ("" = from the first), and the cursor of the next page (""
// = none).
//
// MERGE NOTE: the store has no account listing on this branch; issue 12
// adds keys.Manager.ListAccounts(ctx, cursor, limit) (keys.AccountPage,
// error). Once it is in, accountListerOf returns an adapter over it:
//
//	type managerAccounts struct{ m *keys.Manager }
//
//	func (a managerAccounts) ListAccounts(ctx context.Context, cursor string, limit int) ([]keys.Account, string, error) {
//		p, err := a.m.ListAccounts(ctx, cursor, limit)
//		return p.Accounts, p.Next, err
//	}
type accountLister interface {
	ListAccounts(ctx context.Context, cursor string, limit int) (accounts []keys.Account, next string, err error)
}

// accountListerOf returns the account listing of b's store, or nil if it
// has none (see the note on accountLister).
func accountListerOf(*backend) accountLister { return nil }

// errNoAccountListing is account list's answer without a listing.
var errNoAccountListing = errors.New("this build cannot list accounts: its store has no account listing")

// Bounds of -limit (keys.MaxAccountPage on the branch that adds it).
const (
	defaultAccountPage = 100
	maxAccountPage     = 1000
)

func cmdAccountList(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account list")
	limit := fs.Int("limit", defaultAccountPage, "accounts per page, 1 to "+strconv.Itoa(maxAccountPage))
	after := fs.String("after", "", "list the accounts after this ID (the next page's cursor, printed under each page)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > maxAccountPage {
		return usagef("-limit %d: want 1 to %d", *limit, maxAccountPage)
	}
	if *after != "" {
		if err := checkAccountID("after", *after); err != nil {
			return err
		}
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		l := accountListerOf(b)
		if l == nil {
			return errNoAccountListing
		}
		return listAccounts(ctx, e, c, l, b.m.Tiers(), *after, *limit)
	})
}

// accountPageView is a page of accounts as -json prints it.
type accountPageView struct {
	Accounts []accountView `json:"accounts"`
	// Next is the -after of the following page; null on the last one.
	Next *string `json:"next"`
}

// listAccounts prints one page of l's accounts, with the command that
// prints the next one.
func listAccounts(ctx context.Context, e *env, c *common, l accountLister, tiers map[keys.Tier]keys.Limits, after string, limit int) error {
	as, next, err := l.ListAccounts(ctx, after, limit)
	if err != nil {
		return err
	}
	page := accountPageView{Accounts: make([]accountView, len(as))}
	for i, a := range as {
		page.Accounts[i] = viewAccount(a, tiers)
	}
	if next != "" {
		page.Next = &next
	}
	if c.json {
		return writeJSON(e.stdout, page)
	}
	rows := make([][]string, len(page.Accounts))
	var notes []string
	for i, v := range page.Accounts {
		rows[i] = []string{v.ID, v.Tier, strconv.FormatBool(v.EmailVerified), rate(v.Rate), quota(v.Quota), v.CreatedAt}
		if v.Note != "" && !contains(notes, v.Note) {
			notes = append(notes, v.Note)
		}
	}
	if err := table(e.stdout, []string{"ID", "TIER", "VERIFIED", "RATE", "QUOTA", "CREATED"}, rows); err != nil {
		return err
	}
	for _, n := range notes {
		if err := printNote(e.stdout, n); err != nil {
			return err
		}
	}
	if next != "" {
		_, err = fmt.Fprintf(e.stdout, "next page: keys account list -after %s -limit %d\n", shellQuote(next), limit)
	}
	return err
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_.:@/+=-]+$`)

// shellQuote quotes an account ID for a POSIX shell, if it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
