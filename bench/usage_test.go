package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// usageSQLite returns a Manager over a new SQLite file with 1,000 child
// keys that each admitted a request this month (flushed), and a second
// store over the same file for the floors.
func usageSQLite(b *testing.B) (*keys.Manager, *sqlitestore.Store) {
	b.Helper()
	m, path, tokens := sqliteManager(b, keys.Config{FlushInterval: time.Hour}, 1000)
	ctx := context.Background()
	for _, tok := range tokens {
		k, err := m.Authenticate(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Allow(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	if err := m.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	st, err := sqlitestore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return m, st
}

// BenchmarkSQLiteUsage1000Keys is Manager.Usage of an account with 1,000
// keys on SQLite: the account, its keys and one query for all their
// counts, whatever the number of keys.
func BenchmarkSQLiteUsage1000Keys(b *testing.B) {
	m, _ := usageSQLite(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		u, err := m.Usage(ctx, "acct_bench", time.Time{})
		if err != nil || len(u.Keys) != 1001 || u.Account.Requests != 1000 {
			b.Fatal(len(u.Keys), u.Account, err)
		}
	}
}

// BenchmarkSQLiteUsage1000KeysFloor is its floor: the two reads Usage
// cannot do without (the account's keys, and every count of the month),
// straight on a store over the same file.
func BenchmarkSQLiteUsage1000KeysFloor(b *testing.B) {
	_, st := usageSQLite(b)
	ctx := context.Background()
	month := store.MonthOf(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		ks, err := st.ListKeys(ctx, "acct_bench")
		if err != nil || len(ks) != 1001 {
			b.Fatal(len(ks), err)
		}
		u, err := st.AccountUsage(ctx, "acct_bench", month)
		if err != nil || len(u.Keys) != 1000 {
			b.Fatal(len(u.Keys), err)
		}
	}
}

// BenchmarkSQLiteUsagePerKeyQueries is what the counts would cost with
// one query per key (store.Usage for each of the 1,001 keys), for
// comparison with the floor's single AccountUsage.
func BenchmarkSQLiteUsagePerKeyQueries(b *testing.B) {
	_, st := usageSQLite(b)
	ctx := context.Background()
	month := store.MonthOf(time.Now())
	ks, err := st.ListKeys(ctx, "acct_bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range ks {
			if _, err := st.Usage(ctx, "acct_bench", k.ID, month); err != nil {
				b.Fatal(err)
			}
		}
	}
}
