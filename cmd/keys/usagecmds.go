package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// cmdUsage prints an account's request counts for a month. It reads what
// the store holds: a server sharing the store adds what it admitted at
// its next flush (every second by default).
func cmdUsage(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "usage")
	account := fs.String("account", "", "account ID (required)")
	month := fs.String("month", "", "calendar month, YYYY-MM (default: this month, UTC)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("account", *account); err != nil {
		return err
	}
	var at time.Time
	if *month != "" {
		t, err := time.Parse("2006-01", *month)
		if err != nil || len(*month) != 7 || t.Year() < 1970 {
			return usagef("-month %q: want a calendar month such as 2026-11", *month)
		}
		at = t
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		u, err := b.m.Usage(ctx, *account, at)
		if err != nil {
			return err
		}
		return printAccountUsage(e.stdout, c.json, u)
	})
}

// usageView is the JSON of keys usage: the body of GET /account/usage,
// with each key's name beside its ID.
type usageView struct {
	Month    string         `json:"month"`
	ResetsAt string         `json:"resets_at"`
	Account  usageCount     `json:"account"`
	Keys     []keyUsageView `json:"keys"`
}

type usageCount struct {
	Requests  int64 `json:"requests"`
	Quota     int64 `json:"quota"`
	Remaining int64 `json:"remaining"`
}

type keyUsageView struct {
	ID   uuid.UUID `json:"id"`
	Name *string   `json:"name"`
	usageCount
}

func countOf(n keys.UsageCount) usageCount {
	return usageCount{Requests: n.Requests, Quota: n.Quota, Remaining: n.Remaining}
}

func printAccountUsage(w io.Writer, asJSON bool, u keys.Usage) error {
	v := usageView{Month: u.Month.Format("2006-01"), ResetsAt: stamp(u.ResetsAt), Account: countOf(u.Account),
		Keys: make([]keyUsageView, len(u.Keys))}
	for i, ku := range u.Keys {
		v.Keys[i] = keyUsageView{ID: ku.Key.ID, usageCount: countOf(ku.UsageCount)}
		if ku.Key.Name != "" {
			v.Keys[i].Name = &ku.Key.Name
		}
	}
	if asJSON {
		return writeJSON(w, v)
	}
	rows := [][]string{{"account", "-", num(v.Account.Requests), num(v.Account.Quota), num(v.Account.Remaining)}}
	for _, k := range v.Keys {
		rows = append(rows, []string{k.ID.String(), orDash(k.Name), num(k.Requests), num(k.Quota), num(k.Remaining)})
	}
	if _, err := fmt.Fprintf(w, "usage for %s (resets %s)\n", v.Month, v.ResetsAt); err != nil {
		return err
	}
	return table(w, []string{"KEY", "NAME", "REQUESTS", "QUOTA", "REMAINING"}, rows)
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

// metaFlag collects repeated -meta k=v flags.
type metaFlag map[string]string

func (m metaFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("key %q given twice", k)
	}
	m[k] = v
	return nil
}

// cmdUpdate changes a key's name and metadata (keys.Manager.UpdateKey).
func cmdUpdate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "update")
	idFlag := fs.String("id", "", "key ID (required)")
	name := fs.String("name", "", `new name ("" removes it)`)
	meta := metaFlag{}
	fs.Var(meta, "meta", "metadata pair key=value, repeatable; replaces all of the key's metadata")
	noMeta := fs.Bool("no-meta", false, "remove all of the key's metadata")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	id, err := keyID(*idFlag)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var u keys.KeyUpdate
	if set["name"] {
		u.Name = keys.To(*name)
	}
	switch {
	case *noMeta && len(meta) > 0:
		return usagef("-meta and -no-meta together: choose one")
	case *noMeta:
		u.Metadata = keys.To[map[string]string](nil)
	case len(meta) > 0:
		u.Metadata = keys.To(map[string]string(meta))
	}
	if !u.Name.Set && !u.Metadata.Set {
		return usagef("nothing to change: give -name, -meta or -no-meta")
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		cur, err := b.m.Key(ctx, id)
		if err != nil {
			return err
		}
		k, err := b.m.UpdateKey(ctx, cur.AccountID, id, u)
		if err != nil {
			return err
		}
		if err := printKeyOf(ctx, e, b, c, k); err != nil || c.json {
			return err
		}
		return printMeta(e.stdout, k.Metadata)
	})
}

// printMeta prints metadata pairs one per line, in key order.
func printMeta(w io.Writer, md map[string]string) error {
	ks := make([]string, 0, len(md))
	for k := range md {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		if _, err := fmt.Fprintf(w, "meta %s=%s\n", k, md[k]); err != nil {
			return err
		}
	}
	return nil
}
