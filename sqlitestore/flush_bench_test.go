package sqlitestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// flushKeys is the batch size of the flush benchmarks: one flush of a
// busy instance, every key used once since the previous one.
const flushKeys = 10_000

// BenchmarkRecordLastUsed10000Keys times one last-used flush of 10,000
// existing keys, each moved forward (so every row is written), including
// the fsync of its commit.
func BenchmarkRecordLastUsed10000Keys(b *testing.B) {
	s, path, root := benchStore(b)
	addChildren(b, path, root, flushKeys-1)
	ctx := context.Background()
	keys, err := s.ListKeys(ctx, root.AccountID)
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) != flushKeys {
		b.Fatalf("%d keys, want %d", len(keys), flushKeys)
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

// BenchmarkAddUsage10000Keys times one usage flush of 10,000 keys spread
// over 1,000 accounts, all counts already present (the steady state),
// including the fsync of its commit.
func BenchmarkAddUsage10000Keys(b *testing.B) {
	s, _, _ := benchStore(b)
	ctx := context.Background()
	month := store.MonthOf(time.Now())
	batch := make([]store.UsageDelta, flushKeys)
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
