package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// liveAt is the predicate of a key that is not revoked as of the time
// argument: unrevoked, or retiring until a later time (a grace).
const liveAt = "(revoked_at IS NULL OR (retiring AND revoked_at > ?))"

// RevokeLeaked implements store.Store. Under the locks of every account
// concerned (PostgreSQL), it finds the live roots among ids, then revokes
// with one UPDATE ... RETURNING per chunk of compromised accounts and one
// per chunk of named keys.
func (s *Store) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	out := []store.Key{}
	ids = uniqueIDs(ids)
	if len(ids) == 0 {
		return out, nil
	}
	at := someTime(now)
	var rows []keyRow
	returning := s.keyColumns()
	err := s.inTx(ctx, func(tx bun.Tx) error {
		rows = rows[:0]
		if s.lock.update != "" {
			if err := s.lockKeyAccounts(ctx, tx, ids); err != nil {
				return err
			}
		}
		// The named keys that exist, by account: one key.leaked event each.
		named := make(map[string][]uuid.UUID)
		for chunk := range slices.Chunk(ids, flushChunk) {
			var part []keyRow
			err := tx.NewSelect().Model(&part).Column("id", "account_id").Where("id IN (?)", bun.In(chunk)).Scan(ctx)
			if err != nil {
				return err
			}
			for _, r := range part {
				named[r.AccountID] = append(named[r.AccountID], r.ID)
			}
		}
		var compromised []string
		for chunk := range slices.Chunk(ids, flushChunk) {
			var part []string
			err := tx.NewSelect().Table(keysTable).ColumnExpr("DISTINCT account_id").
				Where("id IN (?) AND is_root AND "+liveAt, bun.In(chunk), at).Scan(ctx, &part)
			if err != nil {
				return err
			}
			compromised = append(compromised, part...)
		}
		// The UPDATEs return the model's own columns, so the rows need no
		// second read.
		revoke := func(where string, arg any) error {
			var part []keyRow
			err := tx.NewRaw("UPDATE "+keysTable+" SET revoked_at = ?, retiring = FALSE WHERE "+where+" AND "+liveAt+" RETURNING "+returning,
				at, arg, at).Scan(ctx, &part)
			rows = append(rows, part...)
			return err
		}
		for chunk := range slices.Chunk(compromised, flushChunk) {
			if err := revoke("account_id IN (?)", bun.In(chunk)); err != nil {
				return err
			}
		}
		for chunk := range slices.Chunk(ids, flushChunk) {
			if err := revoke("id IN (?)", bun.In(chunk)); err != nil {
				return err
			}
		}
		revoked := make(map[string]int)
		for i := range rows {
			revoked[rows[i].AccountID]++
		}
		for _, a := range slices.Sorted(maps.Keys(named)) {
			if err := s.writeEvent(ctx, tx, a, store.EventKeyLeaked, store.FirstID(named[a]), now, store.LeakData(named[a], revoked[a])); err != nil {
				return err
			}
		}
		changed := make(map[string]bool)
		for i := range rows {
			if a := rows[i].AccountID; !changed[a] {
				changed[a] = true
				if err := s.changed(ctx, tx, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("revoke %d leaked keys", len(ids)), err)
	}
	for i := range rows {
		out = append(out, rows[i].key())
	}
	slices.SortFunc(out, func(a, b store.Key) int {
		if c := cmp.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.String(), b.ID.String())
	})
	return out, nil
}

// lockKeyAccounts locks, for update and in ID order (so two reports never
// deadlock), the accounts of the given keys. A key never changes account,
// so reading the accounts before the locks is safe. SQLite needs none of
// this: its write transaction already excludes every other writer.
func (s *Store) lockKeyAccounts(ctx context.Context, tx bun.Tx, ids []uuid.UUID) error {
	var accounts []string
	for chunk := range slices.Chunk(ids, flushChunk) {
		var part []string
		err := tx.NewSelect().Table(keysTable).ColumnExpr("DISTINCT account_id").
			Where("id IN (?)", bun.In(chunk)).Scan(ctx, &part)
		if err != nil {
			return err
		}
		accounts = append(accounts, part...)
	}
	slices.Sort(accounts)
	accounts = slices.Compact(accounts)
	for chunk := range slices.Chunk(accounts, flushChunk) {
		// PostgreSQL locks the rows after sorting them, so in ID order.
		var got []string
		err := tx.NewRaw("SELECT id FROM "+accountsTable+" WHERE id IN (?) ORDER BY id"+s.lock.update,
			bun.In(chunk)).Scan(ctx, &got)
		if err != nil {
			return err
		}
	}
	return nil
}

// uniqueIDs returns ids sorted and without repeats, in a new slice.
func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// keyColumns is the column list of keyRow, for RETURNING: exactly the
// model's columns, whatever else the table may gain.
func (s *Store) keyColumns() string {
	t := s.db.Table(reflect.TypeFor[keyRow]())
	names := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		names[i] = string(f.SQLName)
	}
	return strings.Join(names, ", ")
}
