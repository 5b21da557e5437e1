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

// ReplaceRootKey implements store.Store: under the account's lock, one
// UPDATE revokes every unrevoked key of the account (the active root and
// all its children, however many), then one INSERT adds the new root.
func (s *Store) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	if !root.IsRoot || root.RootKeyID != root.ID {
		return errors.New("sqlstore: ReplaceRootKey needs a root key whose RootKeyID is its ID")
	}
	row := newKeyRow(root)
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if err := s.lockAccount(ctx, tx, root.AccountID, s.lock.update); err != nil {
			return err
		}
		if expect != uuid.Nil {
			// Under the account lock, so no other change can slip between
			// this check and the replacement.
			var one int
			err := tx.NewRaw("SELECT 1 FROM "+keysTable+" WHERE id = ? AND account_id = ? AND is_root AND revoked_at IS NULL",
				expect, root.AccountID).Scan(ctx, &one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: active root %s of account %q: %w", expect, root.AccountID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
			someTime(now), root.AccountID).Exec(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		return s.changed(ctx, tx, root.AccountID)
	})
	return s.wrap(fmt.Sprintf("replace root key of account %q", root.AccountID), err)
}

// InsertChildKey implements store.Store. The account's shared lock (in
// PostgreSQL) makes the check of the root and the insert one step with
// respect to ReplaceRootKey and RevokeKey, which take it exclusively.
func (s *Store) InsertChildKey(ctx context.Context, k store.Key) error {
	if k.IsRoot {
		return errors.New("sqlstore: InsertChildKey given a root key")
	}
	row := newKeyRow(k)
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if err := s.lockAccount(ctx, tx, k.AccountID, s.lock.share); err != nil {
			return err
		}
		n, err := tx.NewSelect().Table(keysTable).
			Where("id = ? AND account_id = ? AND is_root AND revoked_at IS NULL", k.RootKeyID, k.AccountID).
			Count(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: active root %s of account %q: %w", k.RootKeyID, k.AccountID, store.ErrNotFound)
		}
		_, err = tx.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	return s.wrap(fmt.Sprintf("insert child key of account %q", k.AccountID), err)
}

// RevokeKey implements store.Store.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	var row keyRow
	err := s.inTx(ctx, func(tx bun.Tx) error {
		// The account is needed before the lock, and a key never changes
		// account, so reading it unlocked is safe.
		var accountID string
		err := tx.NewSelect().Table(keysTable).Column("account_id").Where("id = ?", id).Scan(ctx, &accountID)
		if err != nil {
			return err
		}
		if err := s.lockAccount(ctx, tx, accountID, s.lock.update); err != nil {
			return err
		}
		at := someTime(now)
		res, err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", at, id).Exec(ctx)
		if err != nil {
			return err
		}
		revoked, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if revoked == 1 {
			// Only a root has children (a child's ID is nobody's
			// root_key_id), so this is a no-op for a child.
			_, err = tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ? WHERE root_key_id = ? AND revoked_at IS NULL", at, id).Exec(ctx)
			if err != nil {
				return err
			}
		}
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return err
		}
		if revoked == 0 {
			return nil
		}
		return s.changed(ctx, tx, accountID)
	})
	if err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("revoke key %s", id), err)
	}
	return row.key(), nil
}
