package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Paging limits of ListKeysPage.
const (
	// DefaultPageLimit is the page size when Page.Limit is 0.
	DefaultPageLimit = 50
	// MaxPageLimit is the largest Page.Limit.
	MaxPageLimit = 100
)

// Page selects one page of ListKeysPage. The zero value is the first page
// of DefaultPageLimit keys, revoked keys left out.
type Page struct {
	// Limit is the most keys to return, 1 to MaxPageLimit. Default (0):
	// DefaultPageLimit.
	Limit int
	// Cursor is the next cursor a previous call returned; "" (the default)
	// starts at the account's oldest key.
	Cursor string
	// IncludeRevoked adds the keys revoked as of now. Default: false, so
	// the page holds every key not revoked, expired ones included.
	IncludeRevoked bool
}

// ListKeysPage returns one page of the account's keys, oldest first (by
// CreatedAt, then ID), and the cursor of the next page, "" after the last.
// A cursor is an opaque position within the account's keys: paging stays
// right while keys are issued or revoked between calls (a key present
// throughout is listed exactly once; new keys come last), and it means
// nothing for another account. A Limit out of range or a cursor that does
// not decode is an error wrapping ErrInvalidArgument; an unknown account is
// ErrAccountNotFound.
func (m *Manager) ListKeysPage(ctx context.Context, accountID string, p Page) (keys []Key, next string, err error) {
	if err := m.checkOpen(); err != nil {
		return nil, "", err
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultPageLimit
	case limit < 0 || limit > MaxPageLimit:
		return nil, "", invalidf("page limit %d is not between 1 and %d", p.Limit, MaxPageLimit)
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	a, err := m.account(ctx, accountID)
	if err != nil {
		return nil, "", err
	}
	// One more than asked tells whether another page follows.
	ks, err := m.keysAfter(ctx, accountID, after, limit+1, p.IncludeRevoked, m.clock())
	if err != nil {
		return nil, "", err
	}
	if len(ks) > limit {
		ks = ks[:limit]
		last := ks[limit-1]
		next = encodeCursor(keyCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = m.keyFromStore(k, a)
	}
	return out, next, nil
}

// keysAfter returns at most limit keys of the account after the position
// after, in list order, leaving out those revoked as of now unless
// includeRevoked. It filters the store's full list: the seam where a
// store's own paging (a keyset query) plugs in.
func (m *Manager) keysAfter(ctx context.Context, accountID string, after keyCursor, limit int, includeRevoked bool, now time.Time) ([]store.Key, error) {
	all, err := m.store.ListKeys(ctx, accountID)
	if err != nil {
		return nil, mapStoreErr(err, nil, "listing keys")
	}
	out := make([]store.Key, 0, min(limit, len(all)))
	for _, k := range all {
		if len(out) == limit {
			break
		}
		if !after.before(&k) || !includeRevoked && k.RevokedAt != nil && !k.RevokedAt.After(now) {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// keyCursor is a position in the list order: a key's creation time (to
// the microsecond, as stores keep it) and ID. The zero value is the
// position before the first key.
type keyCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// before reports whether c comes before k.
func (c keyCursor) before(k *store.Key) bool {
	if c.CreatedAt.IsZero() && c.ID == uuid.Nil {
		return true
	}
	if cmp := c.CreatedAt.Compare(k.CreatedAt); cmp != 0 {
		return cmp < 0
	}
	return bytes.Compare(c.ID[:], k.ID[:]) < 0
}

// cursorLen is the size of a decoded cursor: Unix microseconds (8 bytes,
// big-endian) and the key ID (16 bytes).
const cursorLen = 8 + 16

// encodeCursor writes c as unpadded URL-safe base64, fit for a query
// string. It is not signed: a cursor only positions a list within the
// caller's own account, so a forged one shows nothing more.
func encodeCursor(c keyCursor) string {
	var b [cursorLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.CreatedAt.UnixMicro()))
	copy(b[8:], c.ID[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeCursor reads what encodeCursor wrote; "" is the start.
func decodeCursor(s string) (keyCursor, error) {
	if s == "" {
		return keyCursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return keyCursor{}, invalidf("the page cursor is not one this library made")
	}
	c := keyCursor{CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[:8]))).UTC()}
	copy(c.ID[:], b[8:])
	if c.ID == uuid.Nil {
		return keyCursor{}, invalidf("the page cursor is not one this library made")
	}
	return c, nil
}
