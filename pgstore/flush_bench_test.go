package pgstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/store"
)

// flushSetup opens a store on a fresh schema with the benchmark account,
// its root and FlushKeys-1 children (inserted in one statement, not one
// transaction each).
func flushSetup(b *testing.B) store.Store {
	b.Helper()
	dsn := freshDSN(b)
	s := openStore(b, dsn)
	root := sqlstoretest.BenchAccount(b, s)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(), `INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, is_root, created_at)
		SELECT gen_random_uuid(), $3, $1::uuid, sha256(convert_to($1 || i::text, 'UTF8')), 'sk_live_child', false, now()
		FROM generate_series(1, $2::int) AS i`, root.ID.String(), sqlstoretest.FlushKeys-1, root.AccountID)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRecordLastUsed10000Keys times one last-used flush of 10,000
// existing keys, each moved forward (so every row is written).
func BenchmarkRecordLastUsed10000Keys(b *testing.B) {
	sqlstoretest.BenchRecordLastUsed(b, flushSetup(b))
}

// BenchmarkAddUsage10000Keys times one usage flush of 10,000 keys spread
// over 1,000 accounts, all counts already present (the steady state).
func BenchmarkAddUsage10000Keys(b *testing.B) {
	sqlstoretest.BenchAddUsage(b, openStore(b, freshDSN(b)))
}
