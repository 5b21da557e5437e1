package sqlitestore_test

import (
	"testing"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
)

// BenchmarkRecordLastUsed10000Keys times one last-used flush of 10,000
// existing keys, each moved forward (so every row is written), including
// the fsync of its commit.
func BenchmarkRecordLastUsed10000Keys(b *testing.B) {
	s, path, root := benchStore(b)
	addChildren(b, path, root, sqlstoretest.FlushKeys-1)
	sqlstoretest.BenchRecordLastUsed(b, s)
}

// BenchmarkAddUsage10000Keys times one usage flush of 10,000 keys spread
// over 1,000 accounts, all counts already present (the steady state),
// including the fsync of its commit.
func BenchmarkAddUsage10000Keys(b *testing.B) {
	s, _, _ := benchStore(b)
	sqlstoretest.BenchAddUsage(b, s)
}
