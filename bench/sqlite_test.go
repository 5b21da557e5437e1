package bench_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// benchTier's limits are never reached in a benchmark.
var benchTiers = map[keys.Tier]keys.Limits{"bench": {RequestsPerMinute: 1 << 30, RequestsPerMonth: 1 << 62}}

// missKeys is how many keys the cache-miss benchmarks spread over, so they
// do not measure one hot row.
const missKeys = 256

// sqliteManager returns a Manager over a new SQLite file with n child keys
// of one account, the file's path, and the keys' tokens.
func sqliteManager(b *testing.B, cfg keys.Config, n int) (*keys.Manager, string, []string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "keys.db")
	st, err := sqlitestore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Tiers = benchTiers
	m, err := keys.New(st, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		m.Close()
		st.Close()
	})
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_bench", Tier: "bench", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Reissue(ctx, "acct_bench"); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	for i := range tokens {
		iss, err := m.IssueChild(ctx, "acct_bench", keys.ChildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = iss.Secret
	}
	return m, path, tokens
}

func authLoop(b *testing.B, m *keys.Manager, tokens []string) {
	ctx := context.Background()
	for _, t := range tokens { // warm
		if _, err := m.Authenticate(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := m.Authenticate(ctx, tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func authParallel(b *testing.B, m *keys.Manager, tokens []string) {
	ctx := context.Background()
	for _, t := range tokens {
		if _, err := m.Authenticate(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Authenticate(ctx, tokens[i%len(tokens)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// floorHash is SHA-256 of a token without a heap copy.
func floorHash(token string) store.Hash {
	var buf [64]byte
	n := copy(buf[:], token)
	return sha256.Sum256(buf[:n])
}

var sinkKey *keys.Key

// BenchmarkSQLiteFloor is the floor of a warm Authenticate: one SHA-256 of
// the token and one map lookup.
func BenchmarkSQLiteFloor(b *testing.B) {
	_, _, tokens := sqliteManager(b, keys.Config{}, 64)
	m := make(map[store.Hash]*keys.Key, len(tokens))
	for _, t := range tokens {
		m[floorHash(t)] = &keys.Key{}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sinkKey = m[floorHash(tokens[i&63])]
		i++
	}
}

func BenchmarkSQLiteFloorParallel(b *testing.B) {
	_, _, tokens := sqliteManager(b, keys.Config{}, 64)
	m := make(map[store.Hash]*keys.Key, len(tokens))
	for _, t := range tokens {
		m[floorHash(t)] = &keys.Key{}
	}
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

// BenchmarkSQLiteAuthenticateWarm resolves warm keys through a Manager
// over SQLite: answered from the verified-key cache.
func BenchmarkSQLiteAuthenticateWarm(b *testing.B) {
	m, _, tokens := sqliteManager(b, keys.Config{}, 64)
	authLoop(b, m, tokens)
}

func BenchmarkSQLiteAuthenticateWarmParallel(b *testing.B) {
	m, _, tokens := sqliteManager(b, keys.Config{}, 64)
	authParallel(b, m, tokens)
}

// BenchmarkSQLiteAuthenticateMiss resolves keys with the cache disabled:
// every call reads SQLite (parse, hash, the store's prepared statement,
// the verdict).
func BenchmarkSQLiteAuthenticateMiss(b *testing.B) {
	m, _, tokens := sqliteManager(b, keys.Config{CacheTTL: -1}, missKeys)
	authLoop(b, m, tokens)
}

// BenchmarkSQLiteAuthenticateMissFloor is a raw prepared database/sql
// SELECT by hash on the same file, scanning the key's row, under a
// deadline as every store call of a Manager is (Config.StoreTimeout): the
// least a bounded lookup that reaches SQLite can cost.
func BenchmarkSQLiteAuthenticateMissFloor(b *testing.B) { rawMissLoop(b, true) }

// BenchmarkSQLiteAuthenticateMissFloorNoDeadline is the same SELECT with
// no deadline, the first stage's floor: the difference between the two
// floors is what a deadline costs a SQLite query (modernc.org/sqlite and
// database/sql each watch a cancellable context from a goroutine of
// their own).
func BenchmarkSQLiteAuthenticateMissFloorNoDeadline(b *testing.B) { rawMissLoop(b, false) }

func rawMissLoop(b *testing.B, deadline bool) {
	_, path, tokens := sqliteManager(b, keys.Config{}, missKeys)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	stmt, err := db.Prepare(`SELECT id, account_id, root_key_id, prefix, name, is_root, created_at,
		last_used_at, expires_at, revoked_at, requests_per_month, requests_per_minute
		FROM keys_api_keys WHERE hash = ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	hashes := make([]store.Hash, len(tokens))
	for i, t := range tokens {
		hashes[i] = floorHash(t)
	}
	var (
		id, account, root, prefix, name string
		isRoot, created                 int64
		lastUsed, expires, revoked      sql.NullInt64
		perMonth, perMinute             sql.NullInt64
	)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h := hashes[i%len(hashes)]
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if deadline {
			ctx, cancel = context.WithTimeout(ctx, keys.DefaultStoreTimeout)
		}
		err := stmt.QueryRowContext(ctx, h[:]).Scan(&id, &account, &root, &prefix, &name, &isRoot, &created,
			&lastUsed, &expires, &revoked, &perMonth, &perMinute)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
