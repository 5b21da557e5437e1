package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

const (
	settingsTable = "keys_settings"
	// maxSettingName is the longest setting name store.Store accepts (the
	// schema checks it too).
	maxSettingName = 128
)

// InitSetting implements store.Store: an insert that does nothing when the
// name exists, then a read of what is stored, in one transaction. In
// PostgreSQL the insert waits for a concurrent insert of the same name to
// commit, and the read (a new snapshot under READ COMMITTED) sees it.
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	if name == "" || len(name) > maxSettingName {
		return "", fmt.Errorf("sqlstore: setting name must be 1 to %d bytes", maxSettingName)
	}
	var stored string
	err := s.inTx(ctx, func(tx bun.Tx) error {
		_, err := tx.NewRaw("INSERT INTO "+settingsTable+" (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			name, value).Exec(ctx)
		if err != nil {
			return err
		}
		return tx.NewRaw("SELECT value FROM "+settingsTable+" WHERE name = ?", name).Scan(ctx, &stored)
	})
	if err != nil {
		return "", s.wrap(fmt.Sprintf("init setting %q", name), err)
	}
	return stored, nil
}

// prunable is the condition on k (a keys table alias) under which
// PruneRevoked deletes it: revoked at or before the first argument, and
// not a root that keeps a child which is not pruned (the second argument
// is the same time).
const prunable = "k.revoked_at IS NOT NULL AND k.revoked_at <= ? AND NOT EXISTS (" +
	"SELECT 1 FROM " + keysTable + " c WHERE c.root_key_id = k.id AND c.id <> k.id" +
	" AND (c.revoked_at IS NULL OR c.revoked_at > ?))"

// PruneRevoked implements store.Store: two DELETEs in one transaction, the
// keys' usage counts and then the keys. A root and its children go in the
// same statement, which both databases allow because they check the
// foreign key at the end of the statement.
func (s *Store) PruneRevoked(ctx context.Context, before time.Time) (int, error) {
	at := someTime(before)
	var n int64
	err := s.inTx(ctx, func(tx bun.Tx) error {
		_, err := tx.NewRaw("DELETE FROM "+keyUsageTable+" WHERE key_id IN (SELECT k.id FROM "+keysTable+" k WHERE "+prunable+")",
			at, at).Exec(ctx)
		if err != nil {
			return err
		}
		// RETURNING gives each deleted key's account, for one keys.pruned
		// event per account, without a second read.
		var accounts []string
		if err := tx.NewRaw("DELETE FROM "+keysTable+" AS k WHERE "+prunable+" RETURNING account_id", at, at).Scan(ctx, &accounts); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		n = int64(len(accounts))
		perAccount := make(map[string]int)
		for _, a := range accounts {
			perAccount[a]++
		}
		for _, a := range slices.Sorted(maps.Keys(perAccount)) {
			err := s.writeEvent(ctx, tx, a, store.EventKeysPruned, uuid.Nil, time.Time{},
				map[string]any{"count": perAccount[a], "revoked_before": before.UTC().Truncate(time.Microsecond)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap("prune revoked keys", err)
	}
	return int(n), nil
}

// ListKeysPage implements store.Store. The position is a row-value
// comparison, which both databases answer from the (account_id,
// created_at, id) index.
func (s *Store) ListKeysPage(ctx context.Context, accountID string, after store.KeyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	if limit <= 0 {
		return nil, errors.New("sqlstore: ListKeysPage needs a positive limit")
	}
	rows := []keyRow{}
	q := s.rdb.NewSelect().Model(&rows).Where("account_id = ?", accountID)
	if !after.IsZero() {
		q = q.Where("(created_at, id) > (?, ?)", someTime(after.CreatedAt), after.ID)
	}
	if !includeRevoked {
		q = q.Where("(revoked_at IS NULL OR (retiring AND revoked_at > ?))", someTime(now))
	}
	if err := q.Order("created_at", "id").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, s.wrap(fmt.Sprintf("list keys of account %q", accountID), err)
	}
	out := make([]store.Key, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}
