package keys_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// richOptions are the most restrictions a child may carry: 32 scopes, 16
// metadata pairs, 32 networks.
func richOptions() keys.ChildOptions {
	o := keys.ChildOptions{Metadata: map[string]string{}}
	for i := range keys.MaxScopes {
		o.Scopes = append(o.Scopes, fmt.Sprintf("service%02d:read", i))
	}
	for i := range keys.MaxMetadataPairs {
		o.Metadata[fmt.Sprint("key", i)] = fmt.Sprint("value", i)
	}
	for i := range keys.MaxAllowedNetworks {
		o.AllowedNetworks = append(o.AllowedNetworks, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i * 2), 0, 0}), 16))
	}
	return o
}

// benchRichKey returns a Manager with one warm child carrying richOptions
// and one plain warm child.
func benchRichKey(b *testing.B) (m *keys.Manager, rich, plain string) {
	b.Helper()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_bench", Tier: keys.Pro, EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Reissue(ctx(), "acct_bench"); err != nil {
		b.Fatal(err)
	}
	r, err := m.IssueChild(ctx(), "acct_bench", richOptions())
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.IssueChild(ctx(), "acct_bench", keys.ChildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tok := range []string{r.Secret, p.Secret} {
		if _, err := m.Authenticate(ctx(), tok); err != nil {
			b.Fatal(err)
		}
	}
	return m, r.Secret, p.Secret
}

// BenchmarkAuthenticateRichKey is a warm Authenticate of a key with 32
// scopes, 16 metadata pairs and 32 networks; its floor is
// BenchmarkAuthenticatePlainKey in the same Manager. Target: the same
// within noise, 0 allocations.
func BenchmarkAuthenticateRichKey(b *testing.B) {
	m, rich, _ := benchRichKey(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(ctx(), rich); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticatePlainKey(b *testing.B) {
	m, _, plain := benchRichKey(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(ctx(), plain); err != nil {
			b.Fatal(err)
		}
	}
}

var sinkBool bool

// BenchmarkHasScope32 looks up the last of 32 scopes and a missing one.
// Target: under 20 ns.
func BenchmarkHasScope32(b *testing.B) {
	m, rich, _ := benchRichKey(b)
	k, _ := m.Authenticate(ctx(), rich)
	hit, miss := k.Scopes[len(k.Scopes)-1], "service99:read"
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			sinkBool = k.HasScope(hit)
		} else {
			sinkBool = k.HasScope(miss)
		}
	}
}

// BenchmarkAllowsAddr32 checks an address inside the last of 32 prefixes
// and one outside all. Target: under 50 ns.
func BenchmarkAllowsAddr32(b *testing.B) {
	m, rich, _ := benchRichKey(b)
	k, _ := m.Authenticate(ctx(), rich)
	in, out := netip.MustParseAddr("10.62.1.2"), netip.MustParseAddr("10.63.1.2")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			sinkBool = k.AllowsAddr(in)
		} else {
			sinkBool = k.AllowsAddr(out)
		}
	}
}

// BenchmarkHasScope32Floor is one exact string comparison with the same
// scopes: the least any scope check costs.
func BenchmarkHasScope32Floor(b *testing.B) {
	scopes := richOptions().Scopes
	hit, miss := scopes[len(scopes)-1], "service99:read"
	want := scopes[len(scopes)-1]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			sinkBool = hit == want
		} else {
			sinkBool = miss == want
		}
	}
}

// BenchmarkAllowsAddr32Floor is one netip.Prefix.Contains with the same
// addresses: the least any network check costs.
func BenchmarkAllowsAddr32Floor(b *testing.B) {
	p := netip.MustParsePrefix("10.62.0.0/16")
	in, out := netip.MustParseAddr("10.62.1.2"), netip.MustParseAddr("10.63.1.2")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			sinkBool = p.Contains(in)
		} else {
			sinkBool = p.Contains(out)
		}
	}
}
