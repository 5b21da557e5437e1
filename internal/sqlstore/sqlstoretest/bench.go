package sqlstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// BenchAccountID is the account the benchmark fixtures fill.
const BenchAccountID = "acct_1"

// FlushKeys is the batch size of the flush benchmarks: one flush of a busy
// instance, every key used once since the previous one.
const FlushKeys = 10_000

// BenchAccount creates the verified account BenchAccountID in s with an
// active root key, and returns the root.
func BenchAccount(b testing.TB, s store.Store) store.Key {
	b.Helper()
	ctx, now := context.Background(), time.Now()
	a := store.Account{ID: BenchAccountID, Tier: "pro", EmailVerified: true, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	root := NewRoot(BenchAccountID, now)
	if err := s.ReplaceRootKey(ctx, root, uuid.Nil, now); err != nil {
		b.Fatal(err)
	}
	return root
}

// BenchResolveHash times ResolveHash over hashes in turn: the cache-miss
// lookup of Authenticate.
func BenchResolveHash(b *testing.B, s store.Store, hashes []store.Hash) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.ResolveHash(ctx, hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchRecordLastUsed times one last-used flush of every key of
// BenchAccountID (FlushKeys of them), each moved forward so that every row
// is written, and then checks that a row was.
func BenchRecordLastUsed(b *testing.B, s store.Store) {
	ctx := context.Background()
	keys, err := s.ListKeys(ctx, BenchAccountID)
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) != FlushKeys {
		b.Fatalf("%d keys, want %d", len(keys), FlushKeys)
	}
	batch := make([]store.LastUsed, len(keys))
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Millisecond)
		for i, k := range keys {
			batch[i] = store.LastUsed{KeyID: k.ID, At: at}
		}
		if err := s.RecordLastUsed(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	got, err := s.Key(ctx, keys[len(keys)/2].ID)
	if err != nil {
		b.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Truncate(time.Microsecond)) {
		b.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
	}
}

// BenchAddUsage times one usage flush of FlushKeys keys spread over 1,000
// accounts, all counts already present (the steady state), and checks the
// totals of every flush.
func BenchAddUsage(b *testing.B, s store.Store) {
	ctx := context.Background()
	month := store.MonthOf(time.Now())
	batch := make([]store.UsageDelta, FlushKeys)
	for i := range batch {
		batch[i] = store.UsageDelta{AccountID: fmt.Sprintf("acct_%04d", i%1000), KeyID: uuid.New(), Month: month, N: 3}
	}
	b.ReportAllocs()
	n := int64(0)
	for b.Loop() {
		totals, err := s.AddUsage(ctx, uuid.Nil, batch)
		if err != nil {
			b.Fatal(err)
		}
		n++
		if len(totals) != len(batch) || totals[0].Key != 3*n || totals[len(totals)-1].Account != 30*n {
			b.Fatalf("totals[0] = %+v, totals[last] = %+v after %d flushes", totals[0], totals[len(totals)-1], n)
		}
	}
}

// StressTime bounds a concurrency test: long normally, a second with
// -short.
func StressTime(long time.Duration) time.Duration {
	if testing.Short() {
		return time.Second
	}
	return long
}

// CloseAtEnd closes c when t ends and fails t if that fails.
func CloseAtEnd[C interface{ Close() error }](t testing.TB, c C) C {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// BenchRawResolve is the floor BenchResolveHash is measured against: query,
// a SELECT of a key row by its hash (the one parameter), prepared on db
// with plain database/sql and run over hashes in turn, each row scanned
// into dest.
func BenchRawResolve(b *testing.B, db *sql.DB, query string, hashes []store.Hash, dest ...any) {
	stmt, err := db.Prepare(query)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h := hashes[i%len(hashes)]
		if err := stmt.QueryRow(h[:]).Scan(dest...); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
