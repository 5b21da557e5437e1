package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

const usageFlushesTable = "keys_usage_flushes"

// recordFlush inserts id into the flush ledger within tx and reports
// whether it was new; the nil ID is not recorded and always is. It also
// forgets IDs older than store.FlushIDRetention (by an index on the time,
// so a flush removes the few that aged out since the last one).
//
// On PostgreSQL a concurrent retry of the same ID waits on the primary key
// until the first transaction ends, then finds the row: two callers never
// both apply one batch.
func (s *Store) recordFlush(ctx context.Context, tx bun.Tx, id uuid.UUID) (bool, error) {
	if id == uuid.Nil {
		return true, nil
	}
	now := time.Now()
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+usageFlushesTable+" WHERE applied_at < ?",
		someTime(now.Add(-store.FlushIDRetention))); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO "+usageFlushesTable+" (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
		id, someTime(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// zeroed returns upserts like stmts that add 0 to every row: run on a
// replayed flush, they return the current counts and change none.
func zeroed(stmts []statement) []statement {
	out := make([]statement, len(stmts))
	for i, st := range stmts {
		args := make([]any, len(st.args))
		copy(args, st.args)
		for j := 2; j < len(args); j += 3 {
			args[j] = int64(0)
		}
		out[i] = statement{st.query, args}
	}
	return out
}
