package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// TestLifecycleUpdatesUseIndexes: every UPDATE of a reissue or revocation
// finds its rows through an index, so its cost follows the keys it
// changes, not every key the account (or the table) ever had.
func TestLifecycleUpdatesUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"UPDATE keys_api_keys SET revoked_at = 1 WHERE account_id = 'a' AND revoked_at IS NULL",
		"UPDATE keys_api_keys SET revoked_at = 1 WHERE root_key_id IN (SELECT id FROM keys_api_keys WHERE account_id = 'a' AND is_root AND revoked_at > 5) AND revoked_at > 5",
		"UPDATE keys_api_keys SET revoked_at = 1 WHERE root_key_id = 'r' AND revoked_at > 5",
		"UPDATE keys_api_keys SET revoked_at = 1 WHERE id = 'k'",
		"SELECT id FROM keys_api_keys WHERE account_id = 'a' AND is_root AND revoked_at IS NULL",
		"DELETE FROM keys_key_usage WHERE key_id IN (SELECT id FROM keys_api_keys WHERE account_id = 'a')",
		"DELETE FROM keys_api_keys WHERE account_id = 'a'",
		"SELECT id FROM keys_accounts WHERE id > 'a' ORDER BY id LIMIT 10",
	} {
		rows, err := db.Query("EXPLAIN QUERY PLAN " + q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") {
				t.Errorf("%s\n  scans a table: %q", q, plan)
			}
		}
	}
}

// BenchmarkRotateGrace10000Children times a reissue with a grace period
// over 10,000 children: two UPDATEs on indexes, not 10,000.
func BenchmarkRotateGrace10000Children(b *testing.B) {
	s, path, root := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		addChildren(b, path, root, 10_000)
		now := time.Now()
		root = sqlstoretest.NewRoot("acct_1", now)
		b.StartTimer()
		// No grace first would leave the previous round's keys retiring;
		// the grace end lies in the future, so every round changes 10,000
		// unrevoked children and the previous round's retiring ones.
		if _, err := s.RotateRootKey(ctx, root, store.Rotation{Now: now, GraceEnd: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
