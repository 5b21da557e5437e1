package keys

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Change is one field of a KeyUpdate. Its zero value leaves the field as
// it is; To(v) changes it to v, and for a pointer, slice or map field a
// nil v clears it (no expiry, the tier's limits, ...).
type Change[T any] struct {
	// Set reports whether the field changes.
	Set bool
	// Value is the new value when Set.
	Value T
}

// To returns a Change that sets a field to v.
func To[T any](v T) Change[T] { return Change[T]{Set: true, Value: v} }

// KeyUpdate is a change to a key's settings for UpdateKey. Fields left
// zero are unchanged. Name and Metadata apply to every key; the rest only
// to child keys (a root key is unrestricted, has its account's limits and
// does not expire).
type KeyUpdate struct {
	// Name is the key's label, at most 128 bytes of printable UTF-8; ""
	// removes it.
	Name Change[string]
	// ExpiresAt, if not nil, must be in the future; nil means never.
	ExpiresAt Change[*time.Time]
	// RequestsPerMonth and RequestsPerMinute override the tier's limits,
	// as in ChildOptions; nil means the tier's.
	RequestsPerMonth  Change[*int64]
	RequestsPerMinute Change[*int]
	// Metadata replaces the key's labels whole (limits as in
	// ChildOptions); nil or an empty map removes them.
	Metadata Change[map[string]string]
	// Scopes and AllowedNetworks replace the child's restrictions whole
	// (limits as in ChildOptions); nil lifts them, which widens what the
	// key may do, and an empty non-nil list is ErrInvalidArgument.
	Scopes          Change[[]string]
	AllowedNetworks Change[[]netip.Prefix]
}

// childOnly names the first field of u that only a child key has, or "".
func (u *KeyUpdate) childOnly() string {
	switch {
	case u.ExpiresAt.Set:
		return "expires_at"
	case u.RequestsPerMonth.Set:
		return "quota_requests_per_month_override"
	case u.RequestsPerMinute.Set:
		return "rate_requests_per_minute_override"
	case u.Scopes.Set:
		return "scopes"
	case u.AllowedNetworks.Set:
		return "allowed_networks"
	}
	return ""
}

// UpdateKey changes the settings of the account's key id in one atomic
// store step and returns the key as it is afterwards; the change takes
// effect at once in this Manager (other processes see it within their
// CacheTTL, or at once with a store that notifies). Values are checked as
// IssueChild checks them; a field that only a child has, set on a root key,
// is ErrInvalidArgument, and so is any change to a revoked key (the error
// then also matches ErrRevokedKey). A key of another account, or none, is
// ErrKeyNotFound; an unknown account ErrAccountNotFound. UpdateKey never
// changes when a key is revoked: a key in a grace period keeps its end.
func (m *Manager) UpdateKey(ctx context.Context, accountID string, id uuid.UUID, u KeyUpdate) (Key, error) {
	a, err := m.openAccount(ctx, accountID)
	if err != nil {
		return Key{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	cur, err := m.store.Key(sctx, id)
	cancel()
	if err != nil || cur.AccountID != accountID {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return Key{}, ErrKeyNotFound
		}
		return Key{}, mapStoreErr(err, nil, "reading key")
	}
	now := m.clock().UTC()
	// Whether a key is a root never changes, so this check needs no
	// transaction; revocation can, so the store checks that.
	if f := u.childOnly(); f != "" && cur.IsRoot {
		return Key{}, invalidf("%s can only be changed on a child key", f)
	}
	su, err := m.keyUpdate(a, u, now)
	if err != nil {
		return Key{}, err
	}
	sctx, cancel = m.storeCtx(ctx)
	k, err := m.store.UpdateKey(sctx, accountID, id, su, now)
	cancel()
	// Invalidate even on error: the change may have committed before a
	// lost reply.
	m.cache.invalidateAccount(accountID)
	switch {
	case errors.Is(err, store.ErrRevoked):
		return Key{}, fmt.Errorf("%w: the key is revoked and can no longer be changed (%w)", ErrInvalidArgument, ErrRevokedKey)
	case err != nil:
		return Key{}, mapStoreErr(err, ErrKeyNotFound, "updating key")
	}
	return m.keyFromStore(k, a), nil
}

// keyUpdate validates u against the account's limits and the clock, and
// returns it as the store takes it.
func (m *Manager) keyUpdate(a store.Account, u KeyUpdate, now time.Time) (store.KeyUpdate, error) {
	var su store.KeyUpdate
	pool := m.poolLimits(a)
	if u.Name.Set {
		n := u.Name.Value
		if len(n) > maxNameLen || !utf8.ValidString(n) || hasControl(n) {
			return su, invalidf("name must be at most %d bytes of printable UTF-8", maxNameLen)
		}
		su.Name = store.To(n)
	}
	if u.ExpiresAt.Set {
		v, err := futureExpiry(u.ExpiresAt.Value, now, "expires_at")
		if err != nil {
			return su, err
		}
		su.ExpiresAt = store.To(v)
	}
	if u.RequestsPerMonth.Set {
		v, err := limitOverride(u.RequestsPerMonth.Value, pool.RequestsPerMonth, "quota_requests_per_month_override")
		if err != nil {
			return su, err
		}
		su.RequestsPerMonth = store.To(v)
	}
	if u.RequestsPerMinute.Set {
		v, err := limitOverride(u.RequestsPerMinute.Value, pool.RequestsPerMinute, "rate_requests_per_minute_override")
		if err != nil {
			return su, err
		}
		su.RequestsPerMinute = store.To(v)
	}
	if u.Metadata.Set {
		md, err := validMetadata(u.Metadata.Value)
		if err != nil {
			return su, err
		}
		su.Metadata = store.To(md)
	}
	if u.Scopes.Set {
		s, err := validScopes(u.Scopes.Value)
		if err != nil {
			return su, err
		}
		su.Scopes = store.To(s)
	}
	if u.AllowedNetworks.Set {
		ps, err := validNetworks(u.AllowedNetworks.Value)
		if err != nil {
			return su, err
		}
		su.AllowedNetworks = store.To(ps)
	}
	return su, nil
}
