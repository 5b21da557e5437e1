package sqlitestore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// stressTime bounds the concurrency tests; -short shortens them.
func stressTime() time.Duration { return sqlstoretest.StressTime(5 * time.Second) }

// TestConcurrentWriters runs 8 goroutines against one file: no call may
// fail (in particular with SQLITE_BUSY), and the invariants must hold.
func TestConcurrentWriters(t *testing.T) {
	sqlstoretest.Stress(t, []store.Store{openTemp(t)}, 8, stressTime())
}

// TestConcurrentStores does the same through two Stores on one file, as two
// processes would: they contend for the file lock, which the busy timeout
// and immediate transactions must absorb.
func TestConcurrentStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	var stores []store.Store
	for range 2 {
		s, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	sqlstoretest.Stress(t, stores, 8, stressTime()/2)
}
