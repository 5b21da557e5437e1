package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/keyward/keys/store"
)

// flushChunk is how many rows one statement of RecordLastUsed or AddUsage
// writes at most, so that a flush is a few statements (one round trip
// each) rather than one per key. bun inlines every value into the
// statement text, so no bind-variable limit applies (nor would 3 × 500 =
// 1,500 reach SQLite's default SQLITE_MAX_VARIABLE_NUMBER of 32,766 or
// PostgreSQL's 65,535); the chunk bounds the size of one statement (under
// 50 KB) and the rows it locks at once.
const flushChunk = 500

// statement is one query of a flush and its arguments.
type statement struct {
	query string
	args  []any
}

// RecordLastUsed implements store.Store. The batch is reduced to the latest
// time per key and applied in key order, so that two concurrent batches
// lock rows in the same order and cannot deadlock each other: one
// UPDATE ... FROM (VALUES ...) per flushChunk keys. On PostgreSQL the
// UPDATE joins an ordered SELECT ... FOR UPDATE rather than the VALUES
// list itself, because the order in which a join reaches rows is the
// planner's choice.
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
	stmts := make([]statement, 0, (len(ids)+flushChunk-1)/flushChunk)
	for chunk := range slices.Chunk(ids, flushChunk) {
		stmts = append(stmts, s.lastUsedStatement(chunk, latest))
	}
	err := s.inTx(ctx, func(tx bun.Tx) error {
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap("record last used", err)
}

// lastUsedStatement is the UPDATE of RecordLastUsed for ids, which are
// sorted. The VALUES list is (id, time); its columns are column1 and
// column2 in both dialects. A row is written only if its stored time is
// NULL or earlier, so that it never moves back; an ID that matches no row
// changes nothing. On PostgreSQL the subquery locks the rows in ORDER BY
// k.id (uuid order is byte order, as in ids, so the chunks of one batch
// lock in one ascending sequence), skipping rows that already hold a later
// time, and the outer WHERE repeats the test for the write itself.
func (s *Store) lastUsedStatement(ids []uuid.UUID, latest map[uuid.UUID]time.Time) statement {
	var q strings.Builder
	args := make([]any, 0, 2*len(ids))
	pg := s.db.Dialect().Name() == dialect.PG
	q.WriteString("UPDATE " + keysTable + " AS t SET last_used_at = v.at FROM (")
	if pg {
		q.WriteString("SELECT k.id AS id, v.column2 AS at FROM (VALUES ")
	} else {
		q.WriteString("SELECT v.column1 AS id, v.column2 AS at FROM (VALUES ")
	}
	for i, id := range ids {
		if i > 0 {
			q.WriteString(", ")
		}
		// bun writes a uuid.UUID as a string literal: PostgreSQL needs the
		// cast to compare it with a uuid column (a dbTime carries its own).
		if pg {
			q.WriteString("(?::uuid, ?)")
		} else {
			q.WriteString("(?, ?)")
		}
		args = append(args, id, someTime(latest[id]))
	}
	q.WriteString(") AS v")
	if pg {
		q.WriteString(" JOIN " + keysTable + " AS k ON k.id = v.column1" +
			" WHERE k.last_used_at IS NULL OR k.last_used_at < v.column2" +
			" ORDER BY k.id FOR UPDATE OF k")
	}
	q.WriteString(") AS v WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)")
	return statement{q.String(), args}
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
// deadlocks) with one multi-row INSERT ... ON CONFLICT per flushChunk sums,
// and derives each delta's running total from the final counts the upserts
// return by walking the batch backwards. A flushID is inserted first, in
// the same transaction (see recordFlush); if it was there already, the
// upserts add zero, which returns the current counts.
func (s *Store) AddUsage(ctx context.Context, flushID uuid.UUID, batch []store.UsageDelta) ([]store.UsageTotal, error) {
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
	// Every sum is a row of its own (one statement may not touch a row
	// twice), and PostgreSQL takes the rows' locks in VALUES order.
	var keyStmts, acctStmts []statement
	for chunk := range slices.Chunk(keyOrder, flushChunk) {
		args := make([]any, 0, 3*len(chunk))
		for _, km := range chunk {
			args = append(args, km.key, km.month, keySum[km])
		}
		keyStmts = append(keyStmts, upsertStatement(keyUsageTable, "key_id", args))
	}
	for chunk := range slices.Chunk(acctOrder, flushChunk) {
		args := make([]any, 0, 3*len(chunk))
		for _, am := range chunk {
			args = append(args, am.account, am.month, acctSum[am])
		}
		acctStmts = append(acctStmts, upsertStatement(accountUsageTable, "account_id", args))
	}

	keyTotal := make(map[keyMonth]int64, len(keySum))
	acctTotal := make(map[accountMonth]int64, len(acctSum))
	replay := false
	err := s.inTx(ctx, func(tx bun.Tx) error {
		clear(keyTotal)
		clear(acctTotal)
		fresh, err := s.recordFlush(ctx, tx, flushID)
		if err != nil {
			return err
		}
		ks, as := keyStmts, acctStmts
		if replay = !fresh; replay {
			ks, as = zeroed(keyStmts), zeroed(acctStmts)
		}
		for _, st := range ks {
			err := queryTotals(ctx, tx, st, func(rows *sql.Rows) error {
				var km keyMonth
				var total int64
				if err := rows.Scan(&km.key, &km.month, &total); err != nil {
					return err
				}
				keyTotal[km] = total
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, st := range as {
			err := queryTotals(ctx, tx, st, func(rows *sql.Rows) error {
				var am accountMonth
				var total int64
				if err := rows.Scan(&am.account, &am.month, &total); err != nil {
					return err
				}
				acctTotal[am] = total
				return nil
			})
			if err != nil {
				return err
			}
		}
		// Each row upserted must have come back, or a total below would
		// silently be the batch's own sum.
		if len(keyTotal) != len(keySum) || len(acctTotal) != len(acctSum) {
			return fmt.Errorf("upserts returned %d key and %d account counts for %d and %d rows",
				len(keyTotal), len(acctTotal), len(keySum), len(acctSum))
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
		if !replay {
			keyTotal[km] -= d.N
			acctTotal[am] -= d.N
		}
	}
	return out, nil
}

// upsertStatement adds one count per row of args (id, month, n triples) to
// table, whose key is (idColumn, month), and returns each row's key and
// count after the addition. In an INSERT, PostgreSQL gives the VALUES
// literals the types of the target columns, so none needs a cast.
func upsertStatement(table, idColumn string, args []any) statement {
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (" + idColumn + ", month, count) VALUES ")
	for i := range len(args) / 3 {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?)")
	}
	q.WriteString(" ON CONFLICT (" + idColumn + ", month) DO UPDATE SET count = " + table + ".count + excluded.count" +
		" RETURNING " + idColumn + ", month, count")
	return statement{q.String(), args}
}

// queryTotals runs st in tx and calls scan for each row it returns.
func queryTotals(ctx context.Context, tx bun.Tx, st statement, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, st.query, st.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
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
