package sqlstore

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// txAttempts bounds how often a transaction that PostgreSQL chose as a
// deadlock victim (or that failed serialisation) is run again.
const txAttempts = 5

// inTx runs fn in a write transaction and commits it if fn returns nil.
// fn may run more than once, so it must not have effects outside tx.
func (s *Store) inTx(ctx context.Context, fn func(tx bun.Tx) error) error {
	if s.writeTurn != nil {
		select {
		case s.writeTurn <- struct{}{}:
			defer func() { <-s.writeTurn }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The events of an attempt that does not commit are not the call's.
	log := store.AuditFrom(ctx).Log
	for attempt := 1; ; attempt++ {
		err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if log != nil {
				log.Reset()
			}
			return fn(tx)
		})
		if err != nil && log != nil {
			log.Reset()
		}
		if err == nil || attempt == txAttempts || s.classify(err) != Retryable {
			return err
		}
		// A short random pause so that the two sides of a deadlock do not
		// collide again in lockstep.
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

// changed runs the OnChange hook, if any, inside tx.
func (s *Store) changed(ctx context.Context, tx bun.Tx, accountID string) error {
	if s.onChange == nil {
		return nil
	}
	return s.onChange(ctx, tx, accountID)
}
