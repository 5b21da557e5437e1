package main

import (
	"context"

	"github.com/keyward/keys"
)

func cmdAccountCreate(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account create")
	id := fs.String("id", "", "account ID, 1 to 128 bytes (required)")
	tier := fs.String("tier", string(keys.Free), "tier: free, starter, pro or quant")
	verified := fs.Bool("verified", false, "mark the email verified")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := checkAccountID("id", *id); err != nil {
		return err
	}
	t, err := checkTier(e, *tier)
	if err != nil {
		return err
	}
	// The one command besides serve that may create the database.
	return withBackendMode(ctx, e, c, true, func(b *backend) error {
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
	if err := checkAccountID("id", *id); err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		if err := b.m.SetEmailVerified(ctx, *id, true); err != nil {
			return err
		}
		return showAccount(ctx, e, b, c, *id)
	})
}

func cmdAccountTier(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "account tier")
	id := fs.String("id", "", "account ID (required)")
	tier := fs.String("tier", "", "new tier: free, starter, pro or quant (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("id", *id, "tier", *tier); err != nil {
		return err
	}
	if err := checkAccountID("id", *id); err != nil {
		return err
	}
	t, err := checkTier(e, *tier)
	if err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
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
	if err := checkAccountID("id", *id); err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error { return showAccount(ctx, e, b, c, *id) })
}

func showAccount(ctx context.Context, e *env, b *backend, c *common, id string) error {
	a, err := b.m.Account(ctx, id)
	if err != nil {
		return err
	}
	return printAccount(e.stdout, c.json, viewAccount(a, b.m.Tiers()))
}
