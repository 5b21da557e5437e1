package keys_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys"
)

func TestChildRestrictions(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	iss := f.child(t, "acct_1", keys.ChildOptions{
		Scopes:   []string{"prices:write", "prices:read", "prices:read"},
		Metadata: map[string]string{"project": "p1"},
		AllowedNetworks: []netip.Prefix{
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("10.1.2.3/8"),  // masked to 10.0.0.0/8
			netip.MustParsePrefix("10.5.0.0/16"), // inside 10.0.0.0/8: dropped
			netip.MustParsePrefix("192.168.1.0/24"),
		},
	})
	k := f.auth(t, iss.Secret)
	if !slices.Equal(k.Scopes, []string{"prices:read", "prices:write"}) {
		t.Fatalf("Scopes = %q, want sorted without duplicates", k.Scopes)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(k.AllowedNetworks, wantNets) {
		t.Fatalf("AllowedNetworks = %v, want %v", k.AllowedNetworks, wantNets)
	}
	if k.Metadata["project"] != "p1" || len(k.Metadata) != 1 {
		t.Fatalf("Metadata = %v", k.Metadata)
	}
	for scope, want := range map[string]bool{"prices:read": true, "prices:write": true, "prices": false, "prices:read ": false, "": false} {
		if got := k.HasScope(scope); got != want {
			t.Errorf("HasScope(%q) = %v, want %v", scope, got, want)
		}
	}
	for addr, want := range map[string]bool{
		"10.0.0.1": true, "10.255.255.255": true, "11.0.0.0": false, "9.255.255.255": false,
		"192.168.1.77": true, "192.168.2.1": false, "::ffff:10.1.1.1": true,
		"2001:db8::1": true, "2001:db9::1": false, "fe80::1%eth0": false, "::": false,
	} {
		if got := k.AllowsAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	if k.AllowsAddr(netip.Addr{}) {
		t.Error("a restricted key allows the invalid address")
	}
	r := f.auth(t, root.Secret)
	if !r.HasScope("anything") || !r.AllowsAddr(netip.MustParseAddr("1.2.3.4")) || !r.AllowsAddr(netip.Addr{}) {
		t.Error("a root key is restricted")
	}
	plain := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
	if !plain.HasScope("x") || !plain.AllowsAddr(netip.MustParseAddr("1.2.3.4")) || plain.Metadata != nil {
		t.Error("an unrestricted child is restricted")
	}
	// The caller's slices are not kept.
	opts := keys.ChildOptions{Scopes: []string{"a"}, Metadata: map[string]string{"k": "v"}}
	c := f.child(t, "acct_1", opts)
	opts.Scopes[0], opts.Metadata["k"] = "b", "w"
	if got := f.auth(t, c.Secret); got.Scopes[0] != "a" || got.Metadata["k"] != "v" {
		t.Fatal("IssueChild keeps the caller's slice or map")
	}
}

func TestChildRestrictionsInvalid(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	bigMD := map[string]string{}
	for i := range 17 {
		bigMD[fmt.Sprint("k", i)] = "v"
	}
	nets := make([]netip.Prefix, 33)
	for i := range nets {
		nets[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
	}
	cases := map[string]keys.ChildOptions{
		"empty scopes":       {Scopes: []string{}},
		"33 scopes":          {Scopes: many(33, func(i int) string { return fmt.Sprint("s", i) })},
		"empty scope":        {Scopes: []string{""}},
		"upper-case scope":   {Scopes: []string{"Prices:read"}},
		"scope with space":   {Scopes: []string{"a b"}},
		"65-char scope":      {Scopes: []string{strings.Repeat("a", 65)}},
		"17 metadata pairs":  {Metadata: bigMD},
		"empty md key":       {Metadata: map[string]string{"": "v"}},
		"md key with colon":  {Metadata: map[string]string{"a:b": "v"}},
		"65-byte md key":     {Metadata: map[string]string{strings.Repeat("k", 65): "v"}},
		"257-byte md value":  {Metadata: map[string]string{"k": strings.Repeat("v", 257)}},
		"non-UTF-8 value":    {Metadata: map[string]string{"k": "\xff"}},
		"empty networks":     {AllowedNetworks: []netip.Prefix{}},
		"33 networks":        {AllowedNetworks: nets},
		"invalid prefix":     {AllowedNetworks: []netip.Prefix{{}}},
		"negative ExpiresIn": {ExpiresIn: -time.Second},
		"both expiries":      {ExpiresIn: time.Hour, ExpiresAt: ptr(start.Add(time.Hour))},
	}
	for name, opts := range cases {
		if _, err := f.m.IssueChild(ctx(), "acct_1", opts); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if ks, _ := f.m.ListKeys(ctx(), "acct_1"); len(ks) != 1 {
		t.Fatalf("refused children were written: %d keys", len(ks))
	}
	// The limits themselves pass.
	okMD := map[string]string{}
	for i := range 16 {
		okMD[fmt.Sprint("K.", i)] = strings.Repeat("é", 128)
	}
	f.child(t, "acct_1", keys.ChildOptions{
		Scopes:          many(32, func(i int) string { return fmt.Sprintf("%064d", i) }),
		Metadata:        okMD,
		AllowedNetworks: nets[:32],
	})
}

func TestChildExpiresIn(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	iss := f.child(t, "acct_1", keys.ChildOptions{ExpiresIn: time.Hour})
	if iss.Key.ExpiresAt == nil || !iss.Key.ExpiresAt.Equal(f.m.Now().Add(time.Hour)) {
		t.Fatalf("ExpiresAt = %v, want the Manager's clock + 1h", iss.Key.ExpiresAt)
	}
	f.clock.Add(time.Hour)
	if _, err := f.m.Authenticate(ctx(), iss.Secret); !errors.Is(err, keys.ErrExpiredKey) {
		t.Fatalf("after ExpiresIn: %v", err)
	}
}

// TestRestrictedKeyNoAllocs: a warm Authenticate of a key with every
// restriction at its limit, and its checks, allocate nothing.
func TestRestrictedKeyNoAllocs(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	opts := keys.ChildOptions{Metadata: map[string]string{}}
	for i := range keys.MaxScopes {
		opts.Scopes = append(opts.Scopes, fmt.Sprintf("s%02d:read", i))
	}
	for i := range keys.MaxMetadataPairs {
		opts.Metadata[fmt.Sprint("k", i)] = "v"
	}
	for i := range keys.MaxAllowedNetworks {
		opts.AllowedNetworks = append(opts.AllowedNetworks, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	tok := f.child(t, "acct_1", opts).Secret
	k := f.auth(t, tok)
	addr := netip.MustParseAddr("10.31.0.1")
	n := testing.AllocsPerRun(200, func() {
		k, _ = f.m.Authenticate(ctx(), tok)
		if !k.HasScope("s31:read") || !k.AllowsAddr(addr) {
			t.Fatal("restriction check failed")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per Authenticate + HasScope + AllowsAddr, want 0", n)
	}
}
