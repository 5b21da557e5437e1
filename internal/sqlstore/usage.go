package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// RecordLastUsed implements store.Store. The batch is reduced to the latest
// time per key and applied in key order, so that two concurrent batches
// lock rows in the same order and cannot deadlock each other.
func (s *Store) RecordLastUsed(ctx context.Context, batch []store.LastUsed) error {
	if len(batch) == 0 {
		return nil
	}
	latest := make(map[uuid.UUID]time.Time, len(batch))
	for _, u := range batch {
		if t, ok := latest[u.KeyID]; !ok || u.At.After(t) {
			latest[u.KeyID] = u.At
		}
	}
	ids := make([]uuid.UUID, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	err := s.inTx(ctx, func(tx bun.Tx) error {
		for _, id := range ids {
			at := someTime(latest[id])
			_, err := tx.NewRaw("UPDATE "+keysTable+" SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
				at, id, at).Exec(ctx)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap("record last used", err)
}

type keyMonth struct {
	key   uuid.UUID
	month string
}

type accountMonth struct {
	account string
	month   string
}

// AddUsage implements store.Store. It sums the batch per key-month and per
// account-month, upserts each sum once (in a fixed order, against
// deadlocks), and derives each delta's running total from the final counts
// by walking the batch backwards.
func (s *Store) AddUsage(ctx context.Context, batch []store.UsageDelta) ([]store.UsageTotal, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	keySum := make(map[keyMonth]int64)
	acctSum := make(map[accountMonth]int64)
	for _, d := range batch {
		keySum[keyMonth{d.KeyID, d.Month.String()}] += d.N
		acctSum[accountMonth{d.AccountID, d.Month.String()}] += d.N
	}
	keyOrder := sortedKeys(keySum, func(a, b keyMonth) int {
		return cmp.Or(bytes.Compare(a.key[:], b.key[:]), cmp.Compare(a.month, b.month))
	})
	acctOrder := sortedKeys(acctSum, func(a, b accountMonth) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.month, b.month))
	})

	keyTotal := make(map[keyMonth]int64, len(keySum))
	acctTotal := make(map[accountMonth]int64, len(acctSum))
	err := s.inTx(ctx, func(tx bun.Tx) error {
		for _, km := range keyOrder {
			var total int64
			err := tx.NewRaw("INSERT INTO "+keyUsageTable+" (key_id, month, count) VALUES (?, ?, ?)"+
				" ON CONFLICT (key_id, month) DO UPDATE SET count = "+keyUsageTable+".count + excluded.count"+
				" RETURNING count", km.key, km.month, keySum[km]).Scan(ctx, &total)
			if err != nil {
				return err
			}
			keyTotal[km] = total
		}
		for _, am := range acctOrder {
			var total int64
			err := tx.NewRaw("INSERT INTO "+accountUsageTable+" (account_id, month, count) VALUES (?, ?, ?)"+
				" ON CONFLICT (account_id, month) DO UPDATE SET count = "+accountUsageTable+".count + excluded.count"+
				" RETURNING count", am.account, am.month, acctSum[am]).Scan(ctx, &total)
			if err != nil {
				return err
			}
			acctTotal[am] = total
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("add usage", err)
	}
	out := make([]store.UsageTotal, len(batch))
	for i := len(batch) - 1; i >= 0; i-- {
		d := batch[i]
		km, am := keyMonth{d.KeyID, d.Month.String()}, accountMonth{d.AccountID, d.Month.String()}
		out[i] = store.UsageTotal{Key: keyTotal[km], Account: acctTotal[am]}
		keyTotal[km] -= d.N
		acctTotal[am] -= d.N
	}
	return out, nil
}

// Usage implements store.Store, reading both counts in one statement so
// they come from one snapshot.
func (s *Store) Usage(ctx context.Context, accountID string, keyID uuid.UUID, month store.Month) (store.UsageTotal, error) {
	var u store.UsageTotal
	m := month.String()
	err := s.rdb.NewRaw("SELECT"+
		" COALESCE((SELECT count FROM "+keyUsageTable+" WHERE key_id = ? AND month = ?), 0),"+
		" COALESCE((SELECT count FROM "+accountUsageTable+" WHERE account_id = ? AND month = ?), 0)",
		keyID, m, accountID, m).Scan(ctx, &u.Key, &u.Account)
	if err != nil {
		return store.UsageTotal{}, fmt.Errorf("sqlstore: usage: %w", err)
	}
	return u, nil
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, cmp)
	return out
}
