package integration

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/keyward/keys"
	"github.com/keyward/keys/internal/sqlstore"
	"github.com/keyward/keys/memstore"
	_ "github.com/keyward/keys/sqlitestore" // registers the "sqlite" driver
	"github.com/keyward/keys/store"
)

// firstSchema is the migration every database made before issue 12 has.
const firstSchema = "20260302000001"

// oldKeys issues a root, a child and a revoked child on a scratch Manager
// and returns their tokens and stored rows, to be written into a database
// of the first schema as the code of that time wrote them.
type oldKeys struct {
	root, child, revoked string
	rows                 []store.Key
	account              store.Account
}

func makeOldKeys(t *testing.T) oldKeys {
	t.Helper()
	ctx := context.Background()
	st := memstore.New()
	m := newManager(t, st, keys.Config{})
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_old", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	root, err := m.Reissue(ctx, "acct_old")
	if err != nil {
		t.Fatal(err)
	}
	child, err := m.IssueChild(ctx, "acct_old", keys.ChildOptions{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := m.IssueChild(ctx, "acct_old", keys.ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	rows, _ := st.ListKeys(ctx, "acct_old")
	a, _ := st.Account(ctx, "acct_old")
	return oldKeys{root: root.Secret, child: child.Secret, revoked: revoked.Secret, rows: rows, account: a}
}

// write inserts the keys with the columns of the first schema only.
func (o oldKeys) write(t *testing.T, db *bun.DB, timeArg func(time.Time) any) {
	t.Helper()
	ctx := context.Background()
	_, err := db.NewRaw("INSERT INTO keys_accounts (id, tier, email_verified, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		o.account.ID, o.account.Tier, o.account.EmailVerified, timeArg(o.account.CreatedAt), timeArg(o.account.UpdatedAt)).Exec(ctx)
	if err != nil {
		t.Fatalf("insert account: %v", err)
	}
	for _, k := range o.rows {
		var revoked any
		if k.RevokedAt != nil {
			revoked = timeArg(*k.RevokedAt)
		}
		_, err := db.NewRaw(`INSERT INTO keys_api_keys (id, account_id, root_key_id, hash, prefix, name, is_root, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID.String(), k.AccountID, k.RootKeyID.String(), k.Hash[:], k.Prefix, k.Name, k.IsRoot, timeArg(k.CreatedAt), revoked).Exec(ctx)
		if err != nil {
			t.Fatalf("insert key: %v", err)
		}
	}
}

// check opens the upgraded database through st and checks that the old
// keys behave as before and the new fields work.
func (o oldKeys) check(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	m := newManager(t, st, keys.Config{})
	root := mustAuth(t, m, o.root, "old root")
	child := mustAuth(t, m, o.child, "old child")
	if !root.IsRoot || child.RootKeyID != root.ID || child.Name != "ci" || child.Scopes != nil || child.AllowedNetworks != nil {
		t.Fatalf("old keys after the upgrade: root %+v child %+v", root, child)
	}
	if _, err := m.Authenticate(ctx, o.revoked); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("old revoked key after the upgrade: %v", err)
	}
	scoped, err := m.IssueChild(ctx, "acct_old", keys.ChildOptions{
		Scopes: []string{"prices:read"}, Metadata: map[string]string{"k": "v"},
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		t.Fatalf("IssueChild on the upgraded database: %v", err)
	}
	k := mustAuth(t, m, scoped.Secret, "new scoped child")
	if !k.HasScope("prices:read") || k.HasScope("prices:write") || k.Metadata["k"] != "v" || !k.AllowsAddr(netip.MustParseAddr("10.1.2.3")) {
		t.Fatalf("new child on the upgraded database: %+v", k)
	}
	if _, err := m.Reissue(ctx, "acct_old", keys.WithGrace(time.Hour)); err != nil {
		t.Fatalf("Reissue with grace on the upgraded database: %v", err)
	}
	mustAuth(t, m, o.child, "old child during the grace")
}

func TestUpgradeSQLiteInPlace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	sqldb, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := sqlstore.MigrateTo(ctx, db, firstSchema); err != nil {
		t.Fatalf("making the first schema: %v", err)
	}
	var n int
	if err := db.NewRaw("SELECT count(*) FROM pragma_table_info('keys_api_keys') WHERE name = 'scopes'").Scan(ctx, &n); err != nil || n != 0 {
		t.Fatalf("the old schema already has scopes (%d, %v)", n, err)
	}
	old := makeOldKeys(t)
	old.write(t, db, func(tm time.Time) any { return tm.UnixMicro() })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	old.check(t, openSQLite(t, path))
}

func TestUpgradePostgresInPlace(t *testing.T) {
	ctx := context.Background()
	_, dsn := pgFreshSchema(t)
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := sqlstore.MigrateTo(ctx, db, firstSchema); err != nil {
		t.Fatalf("making the first schema: %v", err)
	}
	old := makeOldKeys(t)
	old.write(t, db, func(tm time.Time) any { return tm })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	old.check(t, openPG(t, dsn))
}
