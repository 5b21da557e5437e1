package store

import (
	"errors"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// ErrRevoked means the key a change names is revoked (its RevokedAt is not
// after the time of the change), so it can no longer be changed.
var ErrRevoked = errors.New("store: key revoked")

// Set is one field of a KeyUpdate. When Set is false the field is left as
// stored; when it is true the field becomes Value, and a nil Value (a nil
// pointer, slice or map) clears it. So a change can tell "leave alone"
// from "clear", which a bare pointer cannot.
type Set[T any] struct {
	// Set reports whether the field changes.
	Set bool
	// Value is the new value when Set.
	Value T
}

// To returns a Set that changes a field to v.
func To[T any](v T) Set[T] { return Set[T]{Set: true, Value: v} }

// KeyUpdate is a change to a key's settings. Fields not Set are left as
// stored. The ID, account, hash, prefix, root, creation time, last-used
// time and RevokedAt never change through it.
type KeyUpdate struct {
	// Name is the key's label; "" means none.
	Name Set[string]
	// ExpiresAt, RequestsPerMonth and RequestsPerMinute: nil clears.
	ExpiresAt         Set[*time.Time]
	RequestsPerMonth  Set[*int64]
	RequestsPerMinute Set[*int]
	// Scopes, Metadata and AllowedNetworks replace the stored ones whole;
	// nil (or an empty map) clears them.
	Scopes          Set[[]string]
	Metadata        Set[map[string]string]
	AllowedNetworks Set[[]netip.Prefix]
}

// Empty reports whether u changes nothing.
func (u *KeyUpdate) Empty() bool {
	return !u.Name.Set && !u.ExpiresAt.Set && !u.RequestsPerMonth.Set && !u.RequestsPerMinute.Set &&
		!u.Scopes.Set && !u.Metadata.Set && !u.AllowedNetworks.Set
}

// AccountUsage is the stored count of an account for one month and of
// every key of it that has one.
type AccountUsage struct {
	// Account is the account's count; zero if never written.
	Account int64
	// Keys maps the ID of each key of the account that has a stored count
	// for the month to that count. A key absent from it has counted
	// nothing (as far as the store knows).
	Keys map[uuid.UUID]int64
}
