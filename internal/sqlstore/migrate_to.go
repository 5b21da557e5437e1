package sqlstore

import (
	"context"

	"github.com/uptrace/bun"
)

// MigrateTo applies the migrations named up to and including upTo (their
// numeric prefix, e.g. "20260302000001"), no later ones: it makes a
// database of an older schema for tests that check an upgrade in place.
func MigrateTo(ctx context.Context, db *bun.DB, upTo string) error {
	dir, err := migrationDir(db)
	if err != nil {
		return err
	}
	return runMigrations(ctx, db, dir, upTo)
}
