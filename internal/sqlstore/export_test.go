package sqlstore

import (
	"context"
	"io/fs"
	"slices"
	"testing/fstest"

	"github.com/uptrace/bun"
)

// MigrateOnly applies, of db's dialect's migrations, only those whose file
// names keep says to keep, building the schema of an older release.
func MigrateOnly(ctx context.Context, db *bun.DB, keep func(name string) bool) ([]string, error) {
	dir, err := migrationDir(db)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(sub, "*.sql")
	if err != nil {
		return nil, err
	}
	kept := fstest.MapFS{}
	for _, n := range names {
		if keep(n) {
			data, err := fs.ReadFile(sub, n)
			if err != nil {
				return nil, err
			}
			kept[n] = &fstest.MapFile{Data: data}
		}
	}
	applied := slices.Sorted(func(yield func(string) bool) {
		for n := range kept {
			if !yield(n) {
				return
			}
		}
	})
	return applied, runMigrationsIn(ctx, db, kept, "")
}

// SetAuditEvents turns the writing of audit events on or off, for the
// floor of the benchmark of their cost.
func SetAuditEvents(s *Store, on bool) { s.noEvents = !on }
