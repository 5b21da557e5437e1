package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/store"
)

// BenchmarkReissueAudit measures a reissue (RotateRootKey) on SQLite with
// the connection settings of sqlitestore.Open (WAL, synchronous FULL), with
// its key.reissued event and, as the floor, without: the event is one more
// INSERT in the same transaction, no second transaction or fsync.
func BenchmarkReissueAudit(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "with_events"
		if !on {
			name = "floor_without"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			sqldb, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "bench.db")+
				"?_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			sqldb.SetMaxOpenConns(1)
			db := bun.NewDB(sqldb, sqlitedialect.New())
			defer db.Close()
			s, err := sqlstore.New(ctx, sqlstore.Config{DB: db, Classify: func(error) sqlstore.ErrorKind { return sqlstore.OtherError }})
			if err != nil {
				b.Fatal(err)
			}
			sqlstore.SetAuditEvents(s, on)
			at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			if err := s.CreateAccount(ctx, store.Account{ID: "acct", Tier: "pro", CreatedAt: at, UpdatedAt: at}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				id := uuid.New()
				var h store.Hash
				copy(h[:], id[:])
				k := store.Key{ID: id, RootKeyID: id, AccountID: "acct", Hash: h, Prefix: "sk_live_root", IsRoot: true,
					CreatedAt: at.Add(time.Duration(i) * time.Millisecond)}
				if _, err := s.RotateRootKey(ctx, k, store.Rotation{Now: k.CreatedAt}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
