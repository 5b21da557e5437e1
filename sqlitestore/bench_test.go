package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// benchKeys is how many keys the lookup benchmarks spread over, so that
// they do not measure one hot page.
const benchKeys = 10_000

// benchStore opens a store on a new file with the benchmark account and
// its root.
func benchStore(b *testing.B) (s *sqlitestore.Store, path string, root store.Key) {
	b.Helper()
	path = filepath.Join(b.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, path, sqlstoretest.BenchAccount(b, s)
}

// addChildren inserts n children of root straight into the file, in one
// transaction (through the store each would be a transaction and an fsync
// of its own), and returns their hashes. The SQL follows the SQLite schema:
// UUIDs as text, times as Unix microseconds.
func addChildren(b *testing.B, path string, root store.Key, n int) []store.Hash {
	b.Helper()
	db := rawDB(b, path)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, is_root, created_at)
		VALUES (?, ?, ?, ?, 'sk_live_child', 0, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	hashes := make([]store.Hash, n)
	now := time.Now().UnixMicro()
	for i := range hashes {
		hashes[i] = sqlstoretest.Hash()
		if _, err := stmt.Exec(uuid.NewString(), root.AccountID, root.ID.String(), hashes[i][:], now); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return hashes
}

// rawDB opens a plain database/sql pool on the store's file, with the
// store's connection settings, closed when b ends.
func rawDB(b *testing.B, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkResolveHash is the cache-miss lookup of Authenticate: key,
// account and active root in one prepared statement.
func BenchmarkResolveHash(b *testing.B) {
	s, path, root := benchStore(b)
	sqlstoretest.BenchResolveHash(b, s, addChildren(b, path, root, benchKeys))
}

// BenchmarkResolveHashFloor is the floor ResolveHash is measured against:
// a raw prepared database/sql SELECT of the key row by hash, on the same
// file, scanned into plain values.
func BenchmarkResolveHashFloor(b *testing.B) {
	_, path, root := benchStore(b)
	hashes := addChildren(b, path, root, benchKeys)
	db := rawDB(b, path)
	var (
		id, account, rootID, prefix, name string
		isRoot                            bool
		created                           int64
		used, expires, revoked, q, r      sql.NullInt64
	)
	sqlstoretest.BenchRawResolve(b, db, `SELECT id, account_id, root_key_id, prefix, name, is_root, created_at,
		last_used_at, expires_at, revoked_at, requests_per_month, requests_per_minute
		FROM keys_api_keys WHERE hash = ?`, hashes,
		&id, &account, &rootID, &prefix, &name, &isRoot, &created, &used, &expires, &revoked, &q, &r)
}

// BenchmarkReplaceRootKey10000Children times a reissue that revokes 10,000
// children (two statements, not 10,000), including the fsync of its commit.
func BenchmarkReplaceRootKey10000Children(b *testing.B) {
	s, path, root := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		addChildren(b, path, root, 10_000)
		now := time.Now()
		root = sqlstoretest.NewRoot(root.AccountID, now)
		b.StartTimer()
		if err := s.ReplaceRootKey(ctx, root, uuid.Nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
