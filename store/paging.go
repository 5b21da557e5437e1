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

// ExpiryCursor is a position in the order ListExpiringKeys uses:
// (ExpiresAt, ID), across every account. The zero value is the position
// before the first key.
type ExpiryCursor struct {
	ExpiresAt time.Time
	ID        uuid.UUID
}

// ExpiryCursorAfter returns the position just after k (a key with an
// expiry), where the page of ListExpiringKeys that follows k starts.
func ExpiryCursorAfter(k Key) ExpiryCursor {
	c := ExpiryCursor{ID: k.ID}
	if k.ExpiresAt != nil {
		c.ExpiresAt = *k.ExpiresAt
	}
	return c
}

// IsZero reports whether c is the position before the first key.
func (c ExpiryCursor) IsZero() bool { return c.ExpiresAt.IsZero() && c.ID == uuid.Nil }

// Before reports whether the position c comes before the key k (a key
// with an expiry), that is, whether a page starting after c includes k.
func (c ExpiryCursor) Before(k Key) bool {
	if c.IsZero() {
		return true
	}
	if k.ExpiresAt == nil {
		return false
	}
	if cmp := c.ExpiresAt.Compare(*k.ExpiresAt); cmp != 0 {
		return cmp < 0
	}
	return compareIDs(c.ID, k.ID) < 0
}

// CompareExpiry orders keys with an expiry as ListExpiringKeys does: by
// ExpiresAt, then by ID as CompareKeys breaks ties. A key without an
// expiry sorts after every key with one.
func CompareExpiry(a, b Key) int {
	switch {
	case a.ExpiresAt == nil && b.ExpiresAt == nil:
	case a.ExpiresAt == nil:
		return 1
	case b.ExpiresAt == nil:
		return -1
	default:
		if c := a.ExpiresAt.Compare(*b.ExpiresAt); c != 0 {
			return c
		}
	}
	return compareIDs(a.ID, b.ID)
}
