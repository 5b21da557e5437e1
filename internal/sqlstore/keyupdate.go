package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// UpdateKey implements store.Store: one UPDATE whose WHERE clause holds the
// whole condition (this account's key, not revoked as of now), so that it
// is atomic against a concurrent revocation without an account lock; then
// the row is read back in the same transaction.
func (s *Store) UpdateKey(ctx context.Context, accountID string, id uuid.UUID, u store.KeyUpdate, now time.Time) (store.Key, error) {
	var row keyRow
	err := s.inTx(ctx, func(tx bun.Tx) error {
		q := tx.NewUpdate().Table(keysTable).
			Where("id = ? AND account_id = ? AND (revoked_at IS NULL OR (retiring AND revoked_at > ?))", id, accountID, someTime(now))
		// An empty update still runs, as a no-op assignment, so that it
		// reports a missing or revoked key like any other.
		if u.Name.Set {
			q = q.Set("name = ?", u.Name.Value)
		} else {
			q = q.Set("name = name")
		}
		if u.ExpiresAt.Set {
			q = q.Set("expires_at = ?", optTime(u.ExpiresAt.Value))
		}
		if u.RequestsPerMonth.Set {
			q = q.Set("requests_per_month = ?", nullInt(u.RequestsPerMonth.Value))
		}
		if u.RequestsPerMinute.Set {
			var v *int64
			if p := u.RequestsPerMinute.Value; p != nil {
				n := int64(*p)
				v = &n
			}
			q = q.Set("requests_per_minute = ?", nullInt(v))
		}
		if u.Scopes.Set || u.Metadata.Set || u.AllowedNetworks.Set {
			scopes, metadata, networks := encodeLists(&store.Key{
				Scopes: u.Scopes.Value, Metadata: u.Metadata.Value, AllowedNetworks: u.AllowedNetworks.Value})
			if u.Scopes.Set {
				q = q.Set("scopes = ?", scopes)
			}
			if u.Metadata.Set {
				q = q.Set("metadata = ?", metadata)
			}
			if u.AllowedNetworks.Set {
				q = q.Set("allowed_networks = ?", networks)
			}
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if err := tx.NewSelect().Model(&row).Where("id = ? AND account_id = ?", id, accountID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: key %s of account %q: %w", id, accountID, store.ErrNotFound)
			}
			return err
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: key %s: %w", id, store.ErrRevoked)
		}
		if u.Empty() {
			return nil
		}
		return s.changed(ctx, tx, accountID)
	})
	if err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("update key %s", id), err)
	}
	return row.key(), nil
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

// AccountUsage implements store.Store: one statement, so both counts come
// from one snapshot. The account's count is the row with a NULL key ID;
// the keys' counts are found through the account's keys (the usage ledger
// itself has no account column), one primary-key probe per key.
func (s *Store) AccountUsage(ctx context.Context, accountID string, month store.Month) (store.AccountUsage, error) {
	m := month.String()
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT NULL AS key_id, count FROM "+accountUsageTable+" WHERE account_id = ? AND month = ?"+
			" UNION ALL SELECT u.key_id, u.count FROM "+keysTable+" AS k"+
			" JOIN "+keyUsageTable+" AS u ON u.key_id = k.id AND u.month = ?"+
			" WHERE k.account_id = ?",
		accountID, m, m, accountID)
	if err != nil {
		return store.AccountUsage{}, s.wrap(fmt.Sprintf("usage of account %q", accountID), err)
	}
	defer rows.Close()
	out := store.AccountUsage{Keys: map[uuid.UUID]int64{}}
	for rows.Next() {
		var id uuid.NullUUID
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return store.AccountUsage{}, s.wrap(fmt.Sprintf("usage of account %q", accountID), err)
		}
		if !id.Valid {
			out.Account = n
			continue
		}
		out.Keys[id.UUID] = n
	}
	if err := rows.Err(); err != nil {
		return store.AccountUsage{}, s.wrap(fmt.Sprintf("usage of account %q", accountID), err)
	}
	return out, nil
}
