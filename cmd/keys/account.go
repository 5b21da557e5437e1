package main

import (
	"context"
	"slices"
	"strings"

	"github.com/keyward/keys"
)

func cmdAccountCreate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account create")
	id := fs.String("id", "", "account ID (required)")
	tier := fs.String("tier", string(keys.Free), "tier: free, starter, pro or quant")
	verified := fs.Bool("verified", false, "mark the email verified")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("id", *id); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
		t, err := checkTier(b, *tier)
		if err != nil {
			return err
		}
		if err := b.m.CreateAccount(ctx, keys.Account{ID: *id, Tier: t, EmailVerified: *verified}); err != nil {
			return err
		}
		return showAccount(ctx, e, b, c, *id)
	})
}

func cmdAccountVerify(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account verify")
	id := fs.String("id", "", "account ID (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("id", *id); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
		if err := b.m.SetEmailVerified(ctx, *id, true); err != nil {
			return err
		}
		return showAccount(ctx, e, b, c, *id)
	})
}

func cmdAccountTier(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account tier")
	id := fs.String("id", "", "account ID (required)")
	tier := fs.String("tier", "", "new tier (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("id", *id, "tier", *tier); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
		t, err := checkTier(b, *tier)
		if err != nil {
			return err
		}
		if err := b.m.SetTier(ctx, *id, t); err != nil {
			return err
		}
		return showAccount(ctx, e, b, c, *id)
	})
}

func cmdAccountShow(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account show")
	id := fs.String("id", "", "account ID (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("id", *id); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error { return showAccount(ctx, e, b, c, *id) })
}

func showAccount(ctx context.Context, e *env, b *backend, c *common, id string) error {
	a, err := b.m.Account(ctx, id)
	if err != nil {
		return err
	}
	return printAccount(e.stdout, c.json, viewAccount(a, b.m.Tiers()))
}

// checkTier refuses a tier the Manager does not know as bad usage.
func checkTier(b *backend, tier string) (keys.Tier, error) {
	tiers := b.m.Tiers()
	if _, ok := tiers[keys.Tier(tier)]; ok {
		return keys.Tier(tier), nil
	}
	var names []string
	for t := range tiers {
		names = append(names, string(t))
	}
	slices.Sort(names)
	return "", usagef("-tier %q: want one of %s", tier, strings.Join(names, ", "))
}
