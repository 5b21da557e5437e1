package main

import (
	"errors"
	"flag"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// restrictionFlags are child's -scope, -meta and -allow-net.
type restrictionFlags struct{ scopes, meta, nets listFlag }

func addRestrictionFlags(fs *flag.FlagSet) *restrictionFlags {
	r := &restrictionFlags{}
	fs.Var(&r.scopes, "scope", "a scope the key is limited to, e.g. prices:read (repeat for more; none: unrestricted)")
	fs.Var(&r.meta, "meta", "a metadata pair key=value (repeat for more)")
	fs.Var(&r.nets, "allow-net", "a network the key may be used from, e.g. 10.0.0.0/8 or 2001:db8::/32 (repeat for more; none: anywhere)")
	return r
}

// apply parses the flags into opts; a malformed value is a usage error.
func (r *restrictionFlags) apply(opts *keys.ChildOptions) error {
	if len(r.scopes) > 0 {
		opts.Scopes = append([]string(nil), r.scopes...)
	}
	for _, kv := range r.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("-meta %q: want key=value", kv)
		}
		if opts.Metadata == nil {
			opts.Metadata = map[string]string{}
		}
		if _, dup := opts.Metadata[k]; dup {
			return usagef("-meta: key %q given twice", k)
		}
		opts.Metadata[k] = v
	}
	for _, s := range r.nets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// A bare address is the network of just that address.
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return usagef("-allow-net %q: want a CIDR prefix such as 10.0.0.0/8 or an IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opts.AllowedNetworks = append(opts.AllowedNetworks, p)
	}
	return nil
}

// reissueFlags are reissue's -grace and -if-root.
type reissueFlags struct {
	grace  *time.Duration
	ifRoot *string
}

func addReissueFlags(fs *flag.FlagSet) *reissueFlags {
	return &reissueFlags{
		grace:  fs.Duration("grace", 0, "keep the old root and its children working this long (e.g. 24h, at most 168h); 0: revoke them now"),
		ifRoot: fs.String("if-root", "", `reissue only while this key ID is the account's root key, or "none": only if it has none`),
	}
}

func (r *reissueFlags) options() ([]keys.ReissueOption, error) {
	if *r.grace < 0 || *r.grace > keys.MaxGrace {
		return nil, usagef("-grace %v: want 0 to %v", *r.grace, keys.MaxGrace)
	}
	opts := []keys.ReissueOption{keys.WithGrace(*r.grace)}
	switch *r.ifRoot {
	case "":
	case "none":
		opts = append(opts, keys.IfNoRoot())
	default:
		id, err := uuid.Parse(*r.ifRoot)
		if err != nil || id == uuid.Nil {
			return nil, usagef(`-if-root %q: want a key ID or "none"`, *r.ifRoot)
		}
		opts = append(opts, keys.IfRoot(id))
	}
	return opts, nil
}

// invalidAsUsage reports the library's refusal of an argument as a usage
// error (exit status 2): the command was given a value out of bounds.
func invalidAsUsage(err error) error {
	if errors.Is(err, keys.ErrInvalidArgument) {
		return usageError{oneLine(err)}
	}
	return err
}

// listText formats a list for the table, "-" for none.
func listText(vs []string) string {
	if len(vs) == 0 {
		return "-"
	}
	return strings.Join(vs, ",")
}
