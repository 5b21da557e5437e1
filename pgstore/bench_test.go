package pgstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/store"
)

// benchKeys is how many child keys the lookup benchmarks spread over.
const benchKeys = 2_000

// benchSetup opens a store on a fresh schema with the benchmark account,
// its root and benchKeys children, and returns the children's hashes.
func benchSetup(b *testing.B) (store.Store, string, []store.Hash) {
	b.Helper()
	dsn := freshDSN(b)
	s := openStore(b, dsn)
	root := sqlstoretest.BenchAccount(b, s)
	ctx := context.Background()
	hashes := make([]store.Hash, benchKeys)
	for i := range hashes {
		c := sqlstoretest.NewChild(root, root.CreatedAt)
		if err := s.InsertChildKey(ctx, c); err != nil {
			b.Fatal(err)
		}
		hashes[i] = c.Hash
	}
	return s, dsn, hashes
}

// BenchmarkResolveHash is the cache-miss lookup: one prepared statement,
// one round trip over loopback.
func BenchmarkResolveHash(b *testing.B) {
	s, _, hashes := benchSetup(b)
	sqlstoretest.BenchResolveHash(b, s, hashes)
}

// BenchmarkResolveHashFloor is a raw prepared database/sql SELECT of the
// key row by hash through pgx, on the same schema.
func BenchmarkResolveHashFloor(b *testing.B) {
	_, dsn, hashes := benchSetup(b)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var (
		id, account, rootID, prefix, name string
		isRoot                            bool
		created                           time.Time
		used, expires, revoked            sql.NullTime
		q, r                              sql.NullInt64
	)
	sqlstoretest.BenchRawResolve(b, db, `SELECT id, account_id, root_key_id, prefix, name, is_root, created_at,
		last_used_at, expires_at, revoked_at, requests_per_month, requests_per_minute
		FROM keys_api_keys WHERE hash = $1`, hashes,
		&id, &account, &rootID, &prefix, &name, &isRoot, &created, &used, &expires, &revoked, &q, &r)
}

// BenchmarkNotifyLatency times a change committed through one Store until
// Subscribe on another Store (another pool, as another process would have)
// tells of it (the goal: within 250 ms). ns/op is that latency, from the
// change returning to the subscriber's callback: the commit itself is
// timed apart and left out. The tests only check that notifications arrive
// (within a deadline generous enough for a loaded machine); this is the
// figure README quotes.
func BenchmarkNotifyLatency(b *testing.B) {
	dsn := freshDSN(b)
	writer, listener := openStore(b, dsn), openStore(b, dsn)
	ctx := context.Background()
	now := time.Now()
	if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	got := make(chan string, 1)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- listener.Subscribe(sctx, func(id string) { got <- id }) }()
	defer func() { cancel(); <-done }()
	if id := <-got; id != "" {
		b.Fatalf("first notification %q, want the listening \"\"", id)
	}
	tiers := []string{"quant", "pro"}
	var n int
	var waited time.Duration
	for b.Loop() {
		// Not b.StopTimer around the commit: b.Loop would then run until
		// a second of latency alone had passed, many times longer.
		tier := tiers[n%2]
		if err := writer.UpdateAccount(ctx, "acct_1", store.AccountUpdate{Tier: &tier, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		select {
		case id := <-got:
			if id != "acct_1" {
				b.Fatalf("notified %q, want acct_1", id)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("no notification within 10s")
		}
		waited += time.Since(committed)
		n++
	}
	b.ReportMetric(float64(waited.Nanoseconds())/float64(n), "ns/op")
}
