package pgstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// Backoff between listening connections: short, so that a restart of the
// server costs little, and capped, so that an outage costs little load.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// ErrClosed is what Subscribe returns when the Store is closed.
var ErrClosed = errors.New("pgstore: store closed")

// errCannotListen means the pool's driver is not pgx, so no connection can
// wait for notifications; retrying would not help.
var errCannotListen = errors.New("pgstore: Subscribe needs the pgx (stdlib) driver")

// notify is the core's OnChange hook: it queues a notification in tx, which
// PostgreSQL delivers when (and only if) tx commits.
func (s *Store) notify(ctx context.Context, tx bun.Tx, accountID string) error {
	_, err := tx.NewRaw("SELECT pg_notify(?, ?)", s.channel, accountID).Exec(ctx)
	return err
}

// Subscribe LISTENs for changes made through any Store on the same database
// and schema (in any process) and calls fn with the ID of each account whose
// keys or settings changed, in commit order, one call at a time. fn should
// return quickly; notifications queue while it runs.
//
// Notifications sent while no connection is listening are lost, so each
// time Subscribe starts listening (first, and after every reconnect) it
// calls fn("") first: an empty ID means "anything may have changed; drop
// everything cached". Account IDs are never empty.
//
// Subscribe holds one connection of the pool while it runs, reconnects with
// exponential backoff (100ms to 5s) when that connection fails, and checks
// an idle connection every 30s. It returns ctx.Err() once ctx is done,
// ErrClosed once the Store is closed (Close waits for it), or an error at
// once if the pool's driver is not pgx.
func (s *Store) Subscribe(ctx context.Context, fn func(accountID string)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.subs.Add(1)
	s.mu.Unlock()
	defer s.subs.Done()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	stopped := func() error {
		if parent.Err() != nil {
			return parent.Err()
		}
		return ErrClosed
	}

	backoff := minBackoff
	for {
		listened, err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return stopped()
		}
		if errors.Is(err, errCannotListen) {
			return err
		}
		if listened {
			backoff = minBackoff
		}
		// Jitter spreads the reconnects of many processes after a
		// server restart.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return stopped()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen runs one listening connection until it fails or ctx is done. It
// reports whether it got as far as listening. The connection is always
// discarded afterwards, never returned to the pool still LISTENing.
func (s *Store) listen(ctx context.Context, fn func(string)) (listened bool, err error) {
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%w, not %T", errCannotListen, dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
			return errors.Join(driver.ErrBadConn, err)
		}
		listened = true
		fn("")
		for {
			if err := s.wait(ctx, pc, fn); err != nil {
				return errors.Join(driver.ErrBadConn, err)
			}
		}
	})
	return listened, err
}

// wait delivers the notifications that arrive within pingEvery, then
// checks that the connection still answers: a peer that vanished without
// closing the socket would otherwise keep Subscribe waiting forever.
func (s *Store) wait(ctx context.Context, pc *pgx.Conn, fn func(string)) error {
	wctx, cancel := context.WithTimeout(ctx, s.pingEvery)
	defer cancel()
	for {
		n, err := pc.WaitForNotification(wctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() == nil {
				return err // the connection failed
			}
			break // quiet for pingEvery
		}
		fn(n.Payload)
	}
	pctx, cancelPing := context.WithTimeout(ctx, 5*time.Second)
	defer cancelPing()
	return pc.Ping(pctx)
}
