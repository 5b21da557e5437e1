package sqlitestore

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

var _ store.Notifier = (*Store)(nil)

// PollInterval is how often Subscribe reads the change feed: a change made
// by any process on the same file reaches every subscriber within about
// this long.
const PollInterval = 100 * time.Millisecond

// changeRetention is how long the feed keeps a change. A subscriber that
// misses rows (it was stopped longer than this) sees a gap in seq and
// drops everything.
const changeRetention = 10 * time.Minute

// errClosed is Subscribe's error once the Store is closed.
var errClosed = errors.New("sqlitestore: store closed")

// recordChange is the core's OnChange hook: it appends the account to the
// change feed inside the change's own transaction, so the row exists if
// and only if the change committed, and prunes rows past changeRetention.
func (s *Store) recordChange(ctx context.Context, tx bun.Tx, accountID string) error {
	now := time.Now()
	if _, err := tx.ExecContext(ctx, "DELETE FROM keys_changes WHERE at < ?", now.Add(-changeRetention).UnixMicro()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO keys_changes (account_id, at) VALUES (?, ?)", accountID, now.UnixMicro())
	return err
}

// Subscribe implements store.Notifier. Every PollInterval it reads the
// changes committed since the last it saw, by any process on the same
// database file, and calls fn with each account ID in commit order, one
// call at a time. After a read fails, or when changes were pruned before
// it read them, it calls fn("") (anything may have changed) once reads
// succeed again. It returns ctx.Err() once ctx is done, or an error once
// the Store is closed.
func (s *Store) Subscribe(ctx context.Context, fn func(accountID string)) error {
	var last int64
	if err := s.feed.NewRaw("SELECT COALESCE(MAX(seq), 0) FROM keys_changes").Scan(ctx, &last); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.subscribeErr(err)
	}
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	missed := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if s.closed.Load() {
			return errClosed
		}
		next, err := s.poll(ctx, last, missed, fn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			missed = true
			continue
		}
		last, missed = next, false
	}
}

// poll reads the changes after seq last and reports them to fn, first
// fn("") if missed or if the feed no longer holds seq last+1. It returns
// the last seq read.
func (s *Store) poll(ctx context.Context, last int64, missed bool, fn func(string)) (int64, error) {
	rows, err := s.feed.QueryContext(ctx, "SELECT seq, account_id FROM keys_changes WHERE seq > ? ORDER BY seq", last)
	if err != nil {
		return last, err
	}
	defer rows.Close()
	type change struct {
		seq     int64
		account string
	}
	var cs []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.seq, &c.account); err != nil {
			return last, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return last, err
	}
	if missed || len(cs) > 0 && cs[0].seq != last+1 {
		fn("")
	}
	for _, c := range cs {
		fn(c.account)
		last = c.seq
	}
	return last, nil
}

func (s *Store) subscribeErr(err error) error {
	if s.closed.Load() {
		return errClosed
	}
	return err
}
