package main

import (
	"context"
	"flag"
	"fmt"
)

// pruneView is what prune prints with -json.
type pruneView struct {
	Pruned    int    `json:"pruned"`
	OlderThan string `json:"older_than"`
}

// cmdPrune deletes keys revoked at least -older-than ago. The flag has no
// default: how long revoked keys stay visible (to list -include-revoked,
// to an audit) is the operator's decision, not one a typo should make.
func cmdPrune(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "prune")
	olderThan := fs.Duration("older-than", 0, "delete keys revoked at least this long ago, for example 2160h (90 days) (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "older-than" })
	switch {
	case !given:
		return usagef("-older-than is required, for example -older-than 2160h (90 days)")
	case *olderThan < 0:
		return usagef("-older-than %v: want a duration of 0 or more", *olderThan)
	}
	return withBackend(ctx, e, c, func(b *backend) error {
		n, err := b.m.PruneRevoked(ctx, *olderThan)
		if err != nil {
			return err
		}
		if c.json {
			return writeJSON(e.stdout, pruneView{Pruned: n, OlderThan: olderThan.String()})
		}
		_, err = fmt.Fprintf(e.stdout, "pruned %d keys revoked at least %v ago\n", n, *olderThan)
		return err
	})
}
