package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// ReplaceRootKey implements store.Store with RotateRootKey.
func (s *Store) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	_, err := s.RotateRootKey(ctx, root, store.Rotation{Expect: expect, Now: now})
	if errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("sqlstore: active root %s of account %q: %w", expect, root.AccountID, store.ErrNotFound)
	}
	return err
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
		if _, err = tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, k.AccountID, store.EventKeyIssued, k.ID, k.CreatedAt,
			map[string]any{"is_root": false, "root_key_id": k.RootKeyID.String(), "expires_at": optTimeData(k.ExpiresAt)})
	})
	return s.wrap(fmt.Sprintf("insert child key of account %q", k.AccountID), err)
}

// RevokeKey implements store.Store. Every UPDATE runs on an index: the key
// by its ID, the rest as in revokeAccountKeys or by root_key_id.
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
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return err
		}
		k := row.key()
		if k.RevokedAsOf(now) {
			return nil
		}
		at := someTime(now)
		if _, err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ?, retiring = FALSE WHERE id = ?", at, id).Exec(ctx); err != nil {
			return err
		}
		n := int64(1)
		switch {
		case k.IsRoot && k.RevokedAt == nil:
			// The active root: the whole account goes, retiring keys too.
			a, b, err := s.revokeAccountKeys(ctx, tx, accountID, now, now)
			if err != nil {
				return err
			}
			n += a + b
		case k.IsRoot:
			// A retiring root: its children (retiring with it) go now.
			res, err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ?, retiring = FALSE WHERE root_key_id = ? AND retiring AND revoked_at > ?",
				at, id, at).Exec(ctx)
			if err != nil {
				return err
			}
			more, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += more
		}
		if err := s.writeEvent(ctx, tx, accountID, store.EventKeyRevoked, id, now, map[string]any{"is_root": k.IsRoot, "keys_revoked": n}); err != nil {
			return err
		}
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			return err
		}
		return s.changed(ctx, tx, accountID)
	})
	if err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("revoke key %s", id), err)
	}
	return row.key(), nil
}

// revokeAccountKeys sets RevokedAt = at on every key of the account that
// is not revoked as of now, except that a retiring key keeps an earlier
// RevokedAt than at. Two UPDATEs on indexes, so the cost follows the keys
// changed, not every key the account ever had: the unrevoked keys through
// the partial index of them, the retiring ones through the account's
// retiring roots (a root is its own root_key_id, so the IN list takes the
// roots along with their children). It returns how many keys each UPDATE
// changed: the unrevoked ones, then the retiring ones.
func (s *Store) revokeAccountKeys(ctx context.Context, tx bun.Tx, accountID string, now, at time.Time) (unrevoked, retiringN int64, err error) {
	// retiring marks a grace end, which a reader compares with its clock;
	// a revocation now is final whatever the reader's clock says.
	retiring := at.After(now)
	res, err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ?, retiring = ? WHERE account_id = ? AND revoked_at IS NULL",
		someTime(at), retiring, accountID).Exec(ctx)
	if err != nil {
		return 0, 0, err
	}
	if unrevoked, err = res.RowsAffected(); err != nil {
		return 0, 0, err
	}
	after := someTime(maxTime(now, at))
	res, err = tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ?, retiring = ? WHERE root_key_id IN (SELECT id FROM "+keysTable+
		" WHERE account_id = ? AND is_root AND retiring AND revoked_at > ?) AND retiring AND revoked_at > ?",
		someTime(at), retiring, accountID, after, after).Exec(ctx)
	if err != nil {
		return 0, 0, err
	}
	retiringN, err = res.RowsAffected()
	return unrevoked, retiringN, err
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
