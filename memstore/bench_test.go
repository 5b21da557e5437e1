package memstore_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// BenchmarkReplaceRootKeyAmong200kKeys reissues one account's root key (the
// account has 10 children) in stores that also hold 0 (the floor), 10,000
// and 200,000 keys of other accounts. With keys indexed by account the
// three are the same; scanning every key, they grew with the store.
func BenchmarkReplaceRootKeyAmong200kKeys(b *testing.B) {
	for _, others := range []int{0, 10_000, 200_000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			ctx := context.Background()
			t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			s := memstore.New()
			fill(b, s, others, t0)
			mustB(b, s.CreateAccount(ctx, store.Account{ID: "bench", Tier: "pro", CreatedAt: t0, UpdatedAt: t0}))
			root := sqlstoretest.NewRoot("bench", t0)
			mustB(b, s.ReplaceRootKey(ctx, root, uuid.Nil, t0))
			for range 10 {
				mustB(b, s.InsertChildKey(ctx, sqlstoretest.NewChild(root, t0)))
			}
			roots := make([]store.Key, b.N)
			for i := range roots {
				roots[i] = sqlstoretest.NewRoot("bench", t0)
			}
			// Collect the fill's garbage now, or its marking, on a heap of
			// 200k keys, would land in the timed loop.
			runtime.GC()
			b.ResetTimer()
			for i := range b.N {
				if err := s.ReplaceRootKey(ctx, roots[i], uuid.Nil, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fill stores n keys in accounts of 100 keys each (a root and 99
// children).
func fill(b *testing.B, s *memstore.Store, n int, at time.Time) {
	ctx := context.Background()
	for a := 0; a*100 < n; a++ {
		id := fmt.Sprintf("acct_%d", a)
		mustB(b, s.CreateAccount(ctx, store.Account{ID: id, Tier: "pro", CreatedAt: at, UpdatedAt: at}))
		root := sqlstoretest.NewRoot(id, at)
		mustB(b, s.ReplaceRootKey(ctx, root, uuid.Nil, at))
		for range min(99, n-a*100-1) {
			mustB(b, s.InsertChildKey(ctx, sqlstoretest.NewChild(root, at)))
		}
	}
}

func mustB(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
