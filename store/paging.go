package store

import (
	"bytes"
	"time"

	"github.com/google/uuid"
)

// KeyCursor is a position in an account's keys in the order ListKeys and
// ListKeysPage use: (CreatedAt, ID). The zero value is the position before
// the first key.
type KeyCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// CursorAfter returns the position just after k, where the page that
// follows k starts.
func CursorAfter(k Key) KeyCursor { return KeyCursor{CreatedAt: k.CreatedAt, ID: k.ID} }

// IsZero reports whether c is the position before the first key.
func (c KeyCursor) IsZero() bool { return c.CreatedAt.IsZero() && c.ID == uuid.Nil }

// Before reports whether the position c comes before the key k, that is,
// whether a page starting after c includes k.
func (c KeyCursor) Before(k Key) bool {
	if c.IsZero() {
		return true
	}
	if cmp := c.CreatedAt.Compare(k.CreatedAt); cmp != 0 {
		return cmp < 0
	}
	return compareIDs(c.ID, k.ID) < 0
}

// CompareKeys orders keys as ListKeys does: by CreatedAt, then by ID in
// the order of their canonical text form (which SQL databases also use).
func CompareKeys(a, b Key) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return compareIDs(a.ID, b.ID)
}

// compareIDs compares two UUIDs byte by byte, which is the order of their
// lower-case hex text too.
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
