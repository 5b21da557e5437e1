package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

func cmdReissue(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "reissue")
	account := fs.String("account", "", "account ID (required)")
	rf := addReissueFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := checkAccountID("account", *account); err != nil {
		return err
	}
	opts, err := rf.options()
	if err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		if err := checkEnv(ctx, b, *account); err != nil {
			return err
		}
		iss, err := b.m.Reissue(ctx, *account, opts...)
		if err != nil {
			return invalidAsUsage(err)
		}
		return printIssued(e.stdout, c.json, iss)
	})
}

func cmdChild(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "child")
	account := fs.String("account", "", "account ID (required)")
	name := fs.String("name", "", "a label for the key, at most 128 bytes")
	expires := fs.String("expires", "", "expiry: an RFC 3339 time or a duration from now (720h), in the future")
	rpm := fs.Int("rpm", 0, "per-minute rate override, at most the tier's (0: the tier's)")
	quota := fs.Int64("quota", 0, "monthly quota override, at most the tier's (0: the tier's)")
	rf := addRestrictionFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := checkAccountID("account", *account); err != nil {
		return err
	}
	if err := checkName(*name); err != nil {
		return err
	}
	opts := keys.ChildOptions{Name: *name}
	exp, err := parseExpiry(*expires, nowUTC())
	if err != nil {
		return err
	}
	opts.ExpiresAt = exp
	switch {
	case *rpm < 0 || *rpm > keys.MaxRequestsPerMinute:
		return usagef("-rpm %d: want a rate from 1 to the tier's", *rpm)
	case *rpm > 0:
		opts.RequestsPerMinute = rpm
	}
	switch {
	case *quota < 0:
		return usagef("-quota %d: want a quota from 1 to the tier's", *quota)
	case *quota > 0:
		opts.RequestsPerMonth = quota
	}
	if err := rf.apply(&opts); err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		if err := checkEnv(ctx, b, *account); err != nil {
			return err
		}
		// An override is bounded by the tier's limits, which this CLI
		// must know to check it.
		if opts.RequestsPerMinute != nil || opts.RequestsPerMonth != nil {
			note, err := accountNote(ctx, b, *account)
			if err != nil {
				return err
			}
			if note != "" {
				return usagef("%s: cannot check -rpm or -quota against its limits", note)
			}
		}
		iss, err := b.m.IssueChild(ctx, *account, opts)
		if err != nil {
			return invalidAsUsage(err)
		}
		return printIssued(e.stdout, c.json, iss)
	})
}

// checkEnv refuses to add a key of this run's environment (-env) to an
// account whose active root key is of the other: a database serves one
// environment, and an sk_live_child under an sk_test_root would be refused
// by the server that issued the root.
func checkEnv(ctx context.Context, b *backend, account string) error {
	root, err := b.m.RootKey(ctx, account)
	if errors.Is(err, keys.ErrNoActiveRootKey) {
		return nil
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(root.Prefix, b.m.TokenPrefix()) {
		return usagef("account %s's root key is %s: run with -env %s", account, root.Prefix, envOf(root.Prefix))
	}
	return nil
}

// envOf is the environment of a token or key prefix (sk_test_… → test).
func envOf(prefix string) string {
	if strings.HasPrefix(prefix, "sk_test_") {
		return "test"
	}
	return "live"
}

// accountNote returns tierNote for the account's tier.
func accountNote(ctx context.Context, b *backend, account string) (string, error) {
	a, err := b.m.Account(ctx, account)
	if err != nil {
		return "", err
	}
	return tierNote(b.m.Tiers(), a.Tier), nil
}

func cmdRevoke(ctx context.Context, e *env, args []string) error {
	return keyCommand(ctx, e, args, "revoke", func(b *backend, id uuid.UUID) error { return b.m.Revoke(ctx, id) })
}

func cmdList(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "list")
	account := fs.String("account", "", "account ID (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := checkAccountID("account", *account); err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		ks, err := b.m.ListKeys(ctx, *account)
		if err != nil {
			return err
		}
		note, err := accountNote(ctx, b, *account)
		if err != nil {
			return err
		}
		now := nowUTC()
		views := make([]keyView, len(ks))
		for i, k := range ks {
			views[i] = viewKey(k, now, note)
		}
		return printKeys(e.stdout, c.json, views)
	})
}

func cmdShow(ctx context.Context, e *env, args []string) error {
	return keyCommand(ctx, e, args, "show", nil)
}

// keyCommand runs a command that takes -id KEY_ID: it applies change (if
// any) to the key, then prints the key as it is now.
func keyCommand(ctx context.Context, e *env, args []string, name string, change func(*backend, uuid.UUID) error) error {
	fs, c := newFlags(e, name)
	idFlag := fs.String("id", "", "key ID (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	id, err := keyID(*idFlag)
	if err != nil {
		return err
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		if change != nil {
			if err := change(b, id); err != nil {
				return err
			}
		}
		k, err := b.m.Key(ctx, id)
		if err != nil {
			return err
		}
		return printKeyOf(ctx, e, b, c, k)
	})
}

// printKeyOf prints k, or its limits' note if its account's tier is not
// configured here.
func printKeyOf(ctx context.Context, e *env, b *backend, c *common, k keys.Key) error {
	note, err := accountNote(ctx, b, k.AccountID)
	if err != nil {
		return err
	}
	return printKey(e.stdout, c.json, viewKey(k, nowUTC(), note))
}

// maxTokenInput bounds what inspect reads: a token is 57 bytes.
const maxTokenInput = 4096

func cmdInspect(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "inspect")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	token, err := readToken(e.stdin)
	if err != nil {
		return err
	}
	// A token of the other environment would be called malformed, which
	// sends the user looking for a typo: say what it is instead.
	if p := "sk_" + c.env + "_"; !strings.HasPrefix(token, p) && (strings.HasPrefix(token, "sk_live_") || strings.HasPrefix(token, "sk_test_")) {
		return usagef("the token is an %s key: run with -env %s", token[:8], envOf(token))
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		k, err := b.m.Inspect(ctx, token)
		if k.ID != uuid.Nil {
			if perr := printKeyOf(ctx, e, b, c, k); perr != nil {
				return perr
			}
		}
		if err != nil {
			return fmt.Errorf("token refused: %s", strings.TrimPrefix(err.Error(), "keys: "))
		}
		return nil
	})
}

// readToken reads one token from r: the first line, trimmed.
func readToken(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxTokenInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	token := strings.TrimSpace(line)
	if token == "" {
		return "", usagef("inspect reads a token from standard input; got none (try: keys inspect < token.txt)")
	}
	return token, nil
}

func keyID(s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, usagef("-id is required")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, usagef("-id %q is not a key ID (a UUID)", s)
	}
	return id, nil
}
