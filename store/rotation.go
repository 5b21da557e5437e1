package store

import (
	"time"

	"github.com/google/uuid"
)

// Rotation is how RotateRootKey replaces an account's root key.
type Rotation struct {
	// Expect, if not uuid.Nil, must be the account's active root key when
	// the rotation happens (a root key reissuing itself, or "only while
	// this is still the root").
	Expect uuid.UUID
	// ExpectNone requires that the account have no active root key (its
	// first key, or one after its root was revoked). It cannot be combined
	// with Expect.
	ExpectNone bool
	// Now is the time of the rotation: the new root's replaced keys are
	// revoked at Now, or retire until GraceEnd.
	Now time.Time
	// GraceEnd, if after Now, is when the replaced keys stop working; the
	// zero value (or any time not after Now) means no grace.
	GraceEnd time.Time
}

// Graceful reports whether r keeps the replaced keys working for a while.
func (r Rotation) Graceful() bool { return r.GraceEnd.After(r.Now) }

// RevokedAsOf reports whether k is revoked at now: RevokedAt set and not
// after now. A key with a later RevokedAt is retiring, still usable.
func (k *Key) RevokedAsOf(now time.Time) bool {
	return k.RevokedAt != nil && !k.RevokedAt.After(now)
}
