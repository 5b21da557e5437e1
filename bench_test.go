package keys_test

import (
	"crypto/sha256"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// Benchmarks come in pairs: the Manager's hot path beside its floor, the
// cheapest code that could do the job, in the same run, so the ratio, not
// the machine, tells the story. bench/run.sh prints the ratios.

// benchKeys returns a Manager (real clock) with n warm child keys.
func benchKeys(b *testing.B, n int) (*keys.Manager, []string) {
	b.Helper()
	m, err := keys.New(memstore.New(), keys.Config{
		Tiers: map[keys.Tier]keys.Limits{"bench": {RequestsPerMinute: 1 << 30, RequestsPerMonth: 1 << 62}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_bench", Tier: "bench", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Reissue(ctx(), "acct_bench"); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	for i := range tokens {
		iss, err := m.IssueChild(ctx(), "acct_bench", keys.ChildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = iss.Secret
		if _, err := m.Authenticate(ctx(), iss.Secret); err != nil {
			b.Fatal(err)
		}
	}
	return m, tokens
}

// floorMap is what the floor looks tokens up in: a plain map by hash.
func floorMap(tokens []string) map[store.Hash]*keys.Key {
	m := make(map[store.Hash]*keys.Key, len(tokens))
	for _, t := range tokens {
		m[floorHash(t)] = &keys.Key{}
	}
	return m
}

// floorHash is SHA-256 of a token without a heap copy: a []byte(token)
// conversion of 57 bytes would allocate and flatter the ratio.
func floorHash(token string) store.Hash {
	var buf [64]byte
	n := copy(buf[:], token)
	return sha256.Sum256(buf[:n])
}

var sinkKey *keys.Key

// BenchmarkFloor is the floor of Authenticate: one SHA-256 of the token and
// one map lookup.
func BenchmarkFloor(b *testing.B) {
	_, tokens := benchKeys(b, 1)
	m := floorMap(tokens)
	tok := tokens[0]
	b.ReportAllocs()
	for b.Loop() {
		sinkKey = m[floorHash(tok)]
	}
}

func BenchmarkFloorParallel(b *testing.B) {
	_, tokens := benchKeys(b, 64)
	m := floorMap(tokens)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		var k *keys.Key
		for pb.Next() {
			k = m[floorHash(tokens[i&63])]
			i++
		}
		_ = k
	})
}

// BenchmarkAuthenticate resolves a warm key through a memstore Manager.
func BenchmarkAuthenticate(b *testing.B) {
	m, tokens := benchKeys(b, 1)
	tok := tokens[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(ctx(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	m, tokens := benchKeys(b, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Authenticate(ctx(), tokens[i&63]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAllow decides a request of a warm key: rate and quota, per key
// and per account. Target: under 100 ns, 0 allocations.
func BenchmarkAllow(b *testing.B) {
	m, tokens := benchKeys(b, 1)
	k, _ := m.Authenticate(ctx(), tokens[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Allow(ctx(), k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	m, tokens := benchKeys(b, 64)
	ks := make([]keys.Key, len(tokens))
	for i, t := range tokens {
		ks[i], _ = m.Authenticate(ctx(), t)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Allow(ctx(), ks[i&63]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAuthenticateAllow is the whole hot path of a data request.
func BenchmarkAuthenticateAllow(b *testing.B) {
	m, tokens := benchKeys(b, 1)
	tok := tokens[0]
	b.ReportAllocs()
	for b.Loop() {
		k, err := m.Authenticate(ctx(), tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Allow(ctx(), k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateAllowParallel(b *testing.B) {
	m, tokens := benchKeys(b, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k, err := m.Authenticate(ctx(), tokens[i&63])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Allow(ctx(), k); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAuthenticateMalformed is the cost of refusing garbage.
func BenchmarkAuthenticateMalformed(b *testing.B) {
	m, tokens := benchKeys(b, 1)
	bad := tokens[0][:56] + "!"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(ctx(), bad); err == nil {
			b.Fatal("accepted")
		}
	}
}
