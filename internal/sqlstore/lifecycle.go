package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyward/keys/store"
)

// RotateRootKey implements store.Store: under the account's lock, one
// read of the active root (the condition and what the new root inherits),
// two UPDATEs on indexes for every key of the account however many
// (revokeAccountKeys), one INSERT.
func (s *Store) RotateRootKey(ctx context.Context, root store.Key, r store.Rotation) (store.Key, error) {
	if !root.IsRoot || root.RootKeyID != root.ID {
		return store.Key{}, errors.New("sqlstore: RotateRootKey needs a root key whose RootKeyID is its ID")
	}
	if r.ExpectNone && r.Expect != uuid.Nil {
		return store.Key{}, errors.New("sqlstore: RotateRootKey with both Expect and ExpectNone")
	}
	var out store.Key
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if err := s.lockAccount(ctx, tx, root.AccountID, s.lock.update); err != nil {
			return err
		}
		// Under the account lock, so no other change can slip between this
		// read and the replacement. The WHERE clause repeats the
		// one-active-root index's predicate so that SQLite uses it.
		var cur keyRow
		err := tx.NewSelect().Model(&cur).
			Where("account_id = ? AND is_root AND revoked_at IS NULL", root.AccountID).Scan(ctx)
		hasRoot := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case r.Expect != uuid.Nil && (!hasRoot || cur.ID != r.Expect):
			return fmt.Errorf("sqlstore: active root of account %q is not %s: %w", root.AccountID, r.Expect, store.ErrConditionFailed)
		case r.ExpectNone && hasRoot:
			return fmt.Errorf("sqlstore: account %q has an active root: %w", root.AccountID, store.ErrConditionFailed)
		}
		k := root
		if hasRoot {
			old := cur.key()
			if k.Name == "" {
				k.Name = old.Name
			}
			if len(k.Metadata) == 0 {
				k.Metadata = old.Metadata
			}
		}
		at := r.Now
		if r.Graceful() {
			at = r.GraceEnd
		}
		unrevoked, _, err := s.revokeAccountKeys(ctx, tx, root.AccountID, r.Now, at)
		if err != nil {
			return err
		}
		row := newKeyRow(k)
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		if hasRoot {
			var grace any
			if r.Graceful() {
				grace = r.GraceEnd.UTC().Truncate(time.Microsecond)
			}
			// The one unrevoked root was among the keys revoked.
			err = s.writeEvent(ctx, tx, root.AccountID, store.EventKeyReissued, root.ID, r.Now, map[string]any{
				"previous_root_id": cur.ID.String(), "children_revoked": unrevoked - 1, "grace_end": grace})
		} else {
			err = s.writeEvent(ctx, tx, root.AccountID, store.EventKeyIssued, root.ID, r.Now,
				map[string]any{"is_root": true, "root_key_id": root.ID.String(), "expires_at": nil})
		}
		if err != nil {
			return err
		}
		out = row.key()
		out.CreatedAt = out.CreatedAt.UTC().Truncate(time.Microsecond)
		out.ExpiresAt = truncPtr(out.ExpiresAt)
		out.LastUsedAt = truncPtr(out.LastUsedAt)
		return s.changed(ctx, tx, root.AccountID)
	})
	if err != nil {
		return store.Key{}, s.wrap(fmt.Sprintf("rotate root key of account %q", root.AccountID), err)
	}
	out.Hash = root.Hash
	return out, nil
}

// DeleteAccount implements store.Store: four DELETEs in one transaction,
// the keys' usage found through the account's keys.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if err := s.lockAccount(ctx, tx, id, s.lock.update); err != nil {
			return err
		}
		stmts := []string{
			"DELETE FROM " + keyUsageTable + " WHERE key_id IN (SELECT id FROM " + keysTable + " WHERE account_id = ?)",
			"DELETE FROM " + accountUsageTable + " WHERE account_id = ?",
			"DELETE FROM " + keysTable + " WHERE account_id = ?",
			"DELETE FROM " + accountsTable + " WHERE id = ?",
			// The events stay, naming the account and its keys by ID only.
			"UPDATE " + eventsTable + " SET ip = '', user_agent = '' WHERE account_id = ?",
		}
		for _, q := range stmts {
			if _, err := tx.NewRaw(q, id).Exec(ctx); err != nil {
				return err
			}
		}
		if err := s.writeEvent(ctx, tx, id, store.EventAccountDeleted, uuid.Nil, time.Time{}, map[string]any{}); err != nil {
			return err
		}
		return s.changed(ctx, tx, id)
	})
	return s.wrap(fmt.Sprintf("delete account %q", id), err)
}

// ListAccounts implements store.Store. PostgreSQL compares text by the
// database's collation, which need not be byte order, so the query names
// the "C" collation, which an index of the migration serves.
func (s *Store) ListAccounts(ctx context.Context, after string, limit int) ([]store.Account, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlstore: ListAccounts limit %d is not positive", limit)
	}
	col := "id"
	if s.rdb.Dialect().Name() == dialect.PG {
		col = `id COLLATE "C"`
	}
	var rows []accountRow
	err := s.rdb.NewSelect().Model(&rows).
		Where(col+" > ?", after).
		OrderExpr(col).
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, s.wrap("list accounts", err)
	}
	out := make([]store.Account, len(rows))
	for i := range rows {
		out[i] = rows[i].account()
	}
	return out, nil
}

// truncPtr returns t as a store returns times: UTC, to the microsecond.
func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}
