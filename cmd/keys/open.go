package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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

// isPostgres reports whether db names a PostgreSQL database (a
// postgres:// URL or a keyword/value DSN such as "host=db dbname=keys")
// rather than a SQLite file.
func isPostgres(db string) bool {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return true
	}
	for _, f := range strings.Fields(db) {
		if k, _, ok := strings.Cut(f, "="); ok && (k == "host" || k == "dbname" || k == "user") {
			return true
		}
	}
	return false
}

// open opens the store that db names and a Manager over it. The tiers,
// environment and pepper come from the configuration (-config, the
// environment), so that the server and the CLI agree.
func open(ctx context.Context, e *env, db string, cfg keys.Config) (*backend, error) {
	var (
		st     store.Store
		closer func() error
	)
	if isPostgres(db) {
		s, err := pgstore.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		st, closer = s, s.Close
	} else {
		s, err := sqlitestore.Open(db)
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

// withBackend opens the database, runs fn and closes it, returning the
// first error.
func withBackend(ctx context.Context, e *env, db string, fn func(*backend) error) (err error) {
	b, err := open(ctx, e, db, keys.Config{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	return fn(b)
}

// parseExpiry reads -expires: an RFC 3339 time or a duration from now.
func parseExpiry(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, usagef("-expires %q: want an RFC 3339 time (2026-12-31T00:00:00Z) or a positive duration (720h)", s)
	}
	t := now.Add(d)
	return &t, nil
}
