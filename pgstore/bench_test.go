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
