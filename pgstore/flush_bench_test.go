package pgstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/store"
)

// flushKeys is the batch size of the flush benchmarks: one flush of a
// busy instance, every key used once since the previous one.
const flushKeys = 10_000

// flushSetup opens a store on a fresh schema with one account, its root
// and flushKeys-1 children (inserted in one statement, not one
// transaction each), and returns the store and the IDs of all its keys.
func flushSetup(b *testing.B) (*pgstore.Store, []uuid.UUID) {
	b.Helper()
	dsn := freshDSN(b)
	s := openStore(b, dsn)
	ctx, now := context.Background(), time.Now()
	if err := s.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	root := sqlstoretest.NewRoot("acct_1", now)
	if err := s.ReplaceRootKey(ctx, root, uuid.Nil, now); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, is_root, created_at)
		SELECT gen_random_uuid(), 'acct_1', $1::uuid, sha256(convert_to($1 || i::text, 'UTF8')), 'sk_live_child', false, now()
		FROM generate_series(1, $2::int) AS i`, root.ID.String(), flushKeys-1)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := s.ListKeys(ctx, "acct_1")
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) != flushKeys {
		b.Fatalf("%d keys, want %d", len(keys), flushKeys)
	}
	ids := make([]uuid.UUID, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return s, ids
}

// BenchmarkRecordLastUsed10000Keys times one last-used flush of 10,000
// existing keys, each moved forward (so every row is written).
func BenchmarkRecordLastUsed10000Keys(b *testing.B) {
	s, ids := flushSetup(b)
	ctx := context.Background()
	batch := make([]store.LastUsed, len(ids))
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Millisecond)
		for i, id := range ids {
			batch[i] = store.LastUsed{KeyID: id, At: at}
		}
		if err := s.RecordLastUsed(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	got, err := s.Key(ctx, ids[len(ids)/2])
	if err != nil {
		b.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Truncate(time.Microsecond)) {
		b.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
	}
}

// BenchmarkAddUsage10000Keys times one usage flush of 10,000 keys spread
// over 1,000 accounts, all counts already present (the steady state).
func BenchmarkAddUsage10000Keys(b *testing.B) {
	s := openStore(b, freshDSN(b))
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
