package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// backend is an open store with the Manager over it.
type backend struct {
	m      *keys.Manager
	st     store.Store
	closer func() error
}

// noDatabase is the error of a command that needs an existing SQLite file
// and was given a path where there is none (a typo, usually): opening it
// would create and migrate a fresh database, and then report "account not
// found", which sends the user looking in the wrong place.
func noDatabase(db string) error {
	return fmt.Errorf("no database at %s (create one with: keys account create -db %s -id ID)", db, db)
}

// sqliteMissing reports whether db is a SQLite path with no file there.
func sqliteMissing(db string) bool {
	if isPostgres(db) {
		return false
	}
	_, err := os.Stat(db)
	return errors.Is(err, fs.ErrNotExist)
}

// newSQLite reports whether db is a SQLite path that holds no database yet
// (no file, or an empty one): opening it creates a new database.
func newSQLite(db string) bool {
	if isPostgres(db) {
		return false
	}
	st, err := os.Stat(db)
	return errors.Is(err, fs.ErrNotExist) || (err == nil && st.Mode().IsRegular() && st.Size() == 0)
}

// open opens the store that c.db names and a Manager over it, for c.env.
// Unless create is set, a SQLite file that does not exist is refused
// (noDatabase) rather than created. The pepper comes from $KEYS_PEPPER so
// that the server and the CLI hash alike.
func open(ctx context.Context, e *env, c *common, create bool, cfg keys.Config) (*backend, error) {
	if err := checkDSN(c.db); err != nil {
		return nil, err
	}
	if !create && sqliteMissing(c.db) {
		return nil, noDatabase(c.db)
	}
	var (
		st     store.Store
		closer func() error
	)
	if isPostgres(c.db) {
		s, err := pgstore.Open(ctx, c.db)
		if err != nil {
			return nil, err
		}
		st, closer = s, s.Close
	} else {
		s, err := sqlitestore.Open(c.db)
		if err != nil {
			return nil, err
		}
		st, closer = s, s.Close
	}
	if e.conf == nil { // a command that parsed no flags: the environment alone
		c, err := loadConfig("", e.getenv)
		if err != nil {
			return nil, errors.Join(err, closer())
		}
		e.conf = c
	}
	e.conf.keysConfig(&cfg)
	cfg.Environment = c.env
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := keys.New(st, cfg)
	if err != nil {
		return nil, errors.Join(err, closer())
	}
	return &backend{m: m, st: st, closer: closer}, nil
}

// close flushes the Manager and closes the store.
func (b *backend) close() error {
	return errors.Join(b.m.Close(), b.closer())
}

// withBackend opens an existing database, runs fn and closes it, returning
// the first error.
func withBackend(ctx context.Context, e *env, c *common, fn func(*backend) error) error {
	return withBackendMode(ctx, e, c, false, fn)
}

// withBackendMode is withBackend that, with create set, creates a SQLite
// database that does not exist yet.
func withBackendMode(ctx context.Context, e *env, c *common, create bool, fn func(*backend) error) (err error) {
	b, err := open(ctx, e, c, create, keys.Config{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	return fn(b)
}

// parseExpiry reads -expires: an RFC 3339 time or a duration from now,
// either in the future.
func parseExpiry(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return nil, usagef("-expires %q is not in the future", s)
		}
		return &t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, usagef("-expires %q: want an RFC 3339 time (2026-12-31T00:00:00Z) or a positive duration (720h)", s)
	}
	t := now.Add(d)
	return &t, nil
}
