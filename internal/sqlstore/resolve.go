package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun/dialect"

	"github.com/keyward/keys/store"
)

// resolveQuery reads a key, its account and the account's active root ID
// in one statement (one snapshot, one round trip). The LEFT JOIN yields at
// most one root, since the one-active-root index is unique, and its ON
// clause repeats that index's predicate so that SQLite uses it; in SQLite it
// measured faster than the equivalent scalar subquery.
func resolveQuery(d dialect.Name) string {
	param := "?"
	if d == dialect.PG {
		param = "$1"
	}
	return `SELECT k.id, k.account_id, k.root_key_id, k.prefix, k.name, k.is_root,
       k.created_at, k.last_used_at, k.expires_at, k.revoked_at,
       k.requests_per_month, k.requests_per_minute,
       k.scopes, k.metadata, k.allowed_networks,
       a.tier, a.email_verified, a.created_at, a.updated_at, r.id
  FROM ` + keysTable + ` k
  JOIN ` + accountsTable + ` a ON a.id = k.account_id
  LEFT JOIN ` + keysTable + ` r ON r.account_id = k.account_id AND r.is_root AND r.revoked_at IS NULL
 WHERE k.hash = ` + param
}

// ResolveHash implements store.Store with the statement New prepared,
// skipping bun: this is the lookup on every cache miss of Authenticate.
func (s *Store) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	var (
		row        keyRow
		acct       accountRow
		activeRoot uuid.NullUUID
	)
	err := s.resolve.QueryRowContext(ctx, h[:]).Scan(
		&row.ID, &row.AccountID, &row.RootKeyID, &row.Prefix, &row.Name, &row.IsRoot,
		&row.CreatedAt, &row.LastUsedAt, &row.ExpiresAt, &row.RevokedAt,
		&row.RequestsPerMonth, &row.RequestsPerMinute,
		&row.Scopes, &row.Metadata, &row.AllowedNetworks,
		&acct.Tier, &acct.EmailVerified, &acct.CreatedAt, &acct.UpdatedAt,
		&activeRoot,
	)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Resolved{}, fmt.Errorf("sqlstore: key hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Resolved{}, fmt.Errorf("sqlstore: resolve key hash: %w", err)
	}
	k := row.key()
	k.Hash = h
	acct.ID = k.AccountID
	return store.Resolved{Key: k, Account: acct.account(), ActiveRootID: activeRoot.UUID}, nil
}
