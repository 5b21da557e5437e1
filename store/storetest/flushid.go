package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// testAddUsageFlushID: a batch sent again with the flush ID of an applied
// one adds nothing and returns the current totals; other IDs, and the nil
// ID every time, add.
func testAddUsageFlushID(t *testing.T, s store.Store) {
	m := store.MonthOf(t0)
	k1, k2 := uuid.New(), uuid.New()
	batch := []store.UsageDelta{
		{AccountID: "acct_1", KeyID: k1, Month: m, N: 3},
		{AccountID: "acct_1", KeyID: k2, Month: m, N: 4},
		{AccountID: "acct_1", KeyID: k1, Month: m, N: 1},
	}
	id := uuid.New()
	got, err := s.AddUsage(ctx(t), id, batch)
	want := []store.UsageTotal{{Key: 3, Account: 3}, {Key: 4, Account: 7}, {Key: 4, Account: 8}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("AddUsage = %v, %v; want %v", got, err, want)
	}
	// The retry of a flush whose reply was lost.
	got, err = s.AddUsage(ctx(t), id, batch)
	want = []store.UsageTotal{{Key: 4, Account: 8}, {Key: 4, Account: 8}, {Key: 4, Account: 8}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("AddUsage again with the same ID = %v, %v; want the current totals %v", got, err, want)
	}
	wantUsage(t, s, k1, store.UsageTotal{Key: 4, Account: 8})
	// The current totals include what other batches added since.
	if _, err := s.AddUsage(ctx(t), uuid.New(), []store.UsageDelta{{AccountID: "acct_1", KeyID: k2, Month: m, N: 10}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.AddUsage(ctx(t), id, batch[1:2])
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]store.UsageTotal{{Key: 14, Account: 18}}) {
		t.Fatalf("a third try = %v, %v; want [{14 18}]", got, err)
	}
	wantUsage(t, s, k2, store.UsageTotal{Key: 14, Account: 18})
	// The nil ID is no ledger entry: each call adds.
	for range 2 {
		if _, err := s.AddUsage(ctx(t), uuid.Nil, batch[:1]); err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, s, k1, store.UsageTotal{Key: 10, Account: 24})
}

// testAddUsageFlushIDConcurrent: the same batch sent at once by several
// callers under one ID is applied once.
func testAddUsageFlushIDConcurrent(t *testing.T, s store.Store) {
	m := store.MonthOf(t0)
	k := uuid.New()
	id := uuid.New()
	batch := []store.UsageDelta{{AccountID: "acct_1", KeyID: k, Month: m, N: 5}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.AddUsage(ctx(t), id, batch); err != nil {
				t.Errorf("AddUsage: %v", err)
			}
		})
	}
	wg.Wait()
	wantUsage(t, s, k, store.UsageTotal{Key: 5, Account: 5})
}

func wantUsage(t *testing.T, s store.Store, k uuid.UUID, want store.UsageTotal) {
	t.Helper()
	u, err := s.Usage(ctx(t), "acct_1", k, store.MonthOf(t0))
	if err != nil || u != want {
		t.Fatalf("Usage = %v, %v; want %v", u, err, want)
	}
}
