package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keys/store"
)

var _ store.ExpiringLister = (*Store)(nil)

// ListExpiringKeys implements store.ExpiringLister. The window and the position
// are one range of the partial index keys_api_keys_by_expiry (expires_at,
// id) of the expiring migration, so a page reads the keys it returns and
// the few revoked ones among them, never the keys without an expiry.
func (s *Store) ListExpiringKeys(ctx context.Context, after store.ExpiryCursor, limit int, now, until time.Time) ([]store.Key, error) {
	if limit <= 0 {
		return nil, errors.New("sqlstore: ListExpiringKeys needs a positive limit")
	}
	rows := []keyRow{}
	q := s.rdb.NewSelect().Model(&rows).
		Where("expires_at <= ?", someTime(until)).
		Where("(revoked_at IS NULL OR (retiring AND revoked_at > ?))", someTime(now))
	// One lower bound, the tighter: SQLite seeks the index with only one
	// of two, and should its planner pick "expires_at > now", every page
	// would read the pages before it again. A position after now implies
	// expires_at > now; one at or before now is implied by it.
	if after.ExpiresAt.Truncate(time.Microsecond).After(now.Truncate(time.Microsecond)) {
		q = q.Where("(expires_at, id) > (?, ?)", someTime(after.ExpiresAt), after.ID)
	} else {
		q = q.Where("expires_at > ?", someTime(now))
	}
	if err := q.Order("expires_at", "id").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, s.wrap("list expiring keys", err)
	}
	out := make([]store.Key, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}
