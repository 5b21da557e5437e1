package keys

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// MaxGrace is the longest grace period a reissue may give the keys it
// replaces.
const MaxGrace = 7 * 24 * time.Hour

// Errors of conditional and graceful reissues, tested with errors.Is.
var (
	// ErrRootKeyChanged means the condition of IfRoot or IfNoRoot did not
	// hold: the account's active root is not the one named (or the account
	// has one where none was expected). Nothing changed.
	ErrRootKeyChanged = errors.New("keys: the account's root key has changed")
	// ErrRootKeyRetired means a retiring root key (one replaced by a
	// reissue with a grace period, still working until its RevokedAt)
	// tried to reissue: only the active root, or a session, may.
	ErrRootKeyRetired = errors.New("keys: root key is retiring and cannot do this")
)

// ReissueOption changes how Reissue and ReissueFrom replace the root key.
type ReissueOption func(*reissueOptions)

type reissueOptions struct {
	grace      time.Duration
	expect     uuid.UUID
	expectNone bool
	err        error
}

// WithGrace keeps the replaced root key and every key of the account
// active at the reissue working for d more (0 ≤ d ≤ MaxGrace), so clients
// can move to the new key without an outage; then they are refused as
// revoked. A key's RevokedAt becomes the grace end unless it already stops
// earlier (a grace never extends anything). WithGrace(0), like no option,
// revokes them at once and also ends every grace still running: the answer
// to a leaked key.
func WithGrace(d time.Duration) ReissueOption {
	return func(o *reissueOptions) {
		if d < 0 || d > MaxGrace {
			o.err = invalidf("grace period %v: want 0 to %v", d, MaxGrace)
			return
		}
		o.grace = d
	}
}

// IfRoot makes the reissue happen only while id is the account's active
// root key, checked atomically in the store; otherwise it returns
// ErrRootKeyChanged and changes nothing. A client that shows "rotate this
// key" passes the key it showed, so a repeated or stale request cannot
// replace a newer root.
func IfRoot(id uuid.UUID) ReissueOption {
	return func(o *reissueOptions) {
		if id == uuid.Nil {
			o.err = invalidf("IfRoot with the nil key ID; use IfNoRoot for an account without a root key")
			return
		}
		o.expect, o.expectNone = id, false
	}
}

// IfNoRoot makes the reissue happen only while the account has no active
// root key (it never had one, or it was revoked): the safe way to give an
// account its first key, since a double-clicked or retried request then
// gets ErrRootKeyChanged instead of revoking the key just shown.
func IfNoRoot() ReissueOption {
	return func(o *reissueOptions) { o.expect, o.expectNone = uuid.Nil, true }
}

func applyReissueOptions(opts []ReissueOption) (reissueOptions, error) {
	var o reissueOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
		if o.err != nil {
			return o, o.err
		}
	}
	return o, nil
}

// Retiring reports whether k was replaced by a reissue with a grace period
// and still works at now: its RevokedAt lies after now.
func (k Key) Retiring(now time.Time) bool {
	return k.RevokedAt != nil && now.Before(*k.RevokedAt)
}

// StopsAt returns when k stops working: the earlier of its ExpiresAt and
// its RevokedAt, nil if neither is set. For a retiring key this is what the
// HTTP adapter shows as expires_at.
func (k Key) StopsAt() *time.Time {
	switch {
	case k.RevokedAt == nil:
		return k.ExpiresAt
	case k.ExpiresAt == nil || k.RevokedAt.Before(*k.ExpiresAt):
		return k.RevokedAt
	default:
		return k.ExpiresAt
	}
}

// Now returns the time by the Manager's clock (Config.Clock, or the wall
// clock), so a host computing an expiry agrees with the Manager, also
// under a fake clock in tests.
func (m *Manager) Now() time.Time { return m.clock() }
