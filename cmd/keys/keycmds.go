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
	if err := required("account", *account); err != nil {
		return err
	}
	opts, err := rf.options()
	if err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
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
	name := fs.String("name", "", "a label for the key")
	expires := fs.String("expires", "", "expiry: an RFC 3339 time or a duration from now (720h)")
	rpm := fs.Int("rpm", 0, "per-minute rate override (0: the tier's)")
	quota := fs.Int64("quota", 0, "monthly quota override (0: the tier's)")
	rf := addRestrictionFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := required("account", *account); err != nil {
		return err
	}
	var opts keys.ChildOptions
	opts.Name = *name
	exp, err := parseExpiry(*expires, nowUTC())
	if err != nil {
		return err
	}
	opts.ExpiresAt = exp
	switch {
	case *rpm < 0:
		return usagef("-rpm %d: want a positive rate", *rpm)
	case *rpm > 0:
		opts.RequestsPerMinute = rpm
	}
	switch {
	case *quota < 0:
		return usagef("-quota %d: want a positive quota", *quota)
	case *quota > 0:
		opts.RequestsPerMonth = quota
	}
	if err := rf.apply(&opts); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
		iss, err := b.m.IssueChild(ctx, *account, opts)
		if err != nil {
			return invalidAsUsage(err)
		}
		return printIssued(e.stdout, c.json, iss)
	})
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
	if err := required("account", *account); err != nil {
		return err
	}
	return withBackend(ctx, e, c.db, func(b *backend) error {
		ks, err := b.m.ListKeys(ctx, *account)
		if err != nil {
			return err
		}
		now := nowUTC()
		views := make([]keyView, len(ks))
		for i, k := range ks {
			views[i] = viewKey(k, now)
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
	return withBackend(ctx, e, c.db, func(b *backend) error {
		if change != nil {
			if err := change(b, id); err != nil {
				return err
			}
		}
		k, err := b.m.Key(ctx, id)
		if err != nil {
			return err
		}
		return printKey(e.stdout, c.json, viewKey(k, nowUTC()))
	})
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
	return withBackend(ctx, e, c.db, func(b *backend) error {
		k, err := b.m.Inspect(ctx, token)
		if k.ID != uuid.Nil {
			if perr := printKey(e.stdout, c.json, viewKey(k, nowUTC())); perr != nil {
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
