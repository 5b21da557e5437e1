package keys

import (
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

// limit is p.Limit, or DefaultPageLimit for 0; one out of 1 to
// MaxPageLimit is ErrInvalidArgument.
func (p Page) limit() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultPageLimit, nil
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return 0, invalidf("page limit %d is not between 1 and %d", p.Limit, MaxPageLimit)
	}
	return p.Limit, nil
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
	limit, err := p.limit()
	if err != nil {
		return nil, "", err
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
	sctx, cancel := m.storeCtx(ctx)
	ks, err := m.store.ListKeysPage(sctx, accountID, after, limit+1, p.IncludeRevoked, m.clock())
	cancel()
	if err != nil {
		return nil, "", mapStoreErr(err, nil, "listing keys")
	}
	if len(ks) > limit {
		ks = ks[:limit]
		next = encodeCursor(store.CursorAfter(ks[limit-1]))
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = m.keyFromStore(k, a)
	}
	return out, next, nil
}

// cursorLen is the size of a decoded cursor: Unix microseconds (8 bytes,
// big-endian) and an ID (16 bytes).
const cursorLen = 8 + 16

// encodePosition writes a list position (a time and an ID) as unpadded
// URL-safe base64, fit for a query string. It is not signed: a cursor only
// positions a list within the caller's own account, so a forged one shows
// nothing more. Key lists and audit events share it.
func encodePosition(at time.Time, id uuid.UUID) string {
	var b [cursorLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixMicro()))
	copy(b[8:], id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodePosition reads what encodePosition wrote; "" is the start (the
// zero time and uuid.Nil).
func decodePosition(s string) (time.Time, uuid.UUID, error) {
	if s == "" {
		return time.Time{}, uuid.Nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return time.Time{}, uuid.Nil, invalidf("the page cursor is not one this library made")
	}
	at := time.UnixMicro(int64(binary.BigEndian.Uint64(b[:8]))).UTC()
	id := uuid.UUID(b[8:])
	// Every store keeps years 1 to 9999; PostgreSQL refuses a time beyond
	// them, which would turn a tampered cursor into a store error.
	if y := at.Year(); id == uuid.Nil || y < 1 || y > 9999 {
		return time.Time{}, uuid.Nil, invalidf("the page cursor is not one this library made")
	}
	return at, id, nil
}

func encodeCursor(c store.KeyCursor) string { return encodePosition(c.CreatedAt, c.ID) }

func decodeCursor(s string) (store.KeyCursor, error) {
	at, id, err := decodePosition(s)
	return store.KeyCursor{CreatedAt: at, ID: id}, err
}

// PruneRevoked deletes the keys revoked at least olderThan ago (RevokedAt
// at or before now minus olderThan), across all accounts, and returns how
// many it deleted. Revoked keys are otherwise kept forever, so an account
// grows the store at its reissue rate. A pruned key is gone: its token then
// fails as ErrUnknownKey (invalid_api_key over HTTP), not ErrRevokedKey,
// and Key reports ErrKeyNotFound. A root key stays while any child issued
// from it stays. olderThan must not be negative (ErrInvalidArgument).
func (m *Manager) PruneRevoked(ctx context.Context, olderThan time.Duration) (int, error) {
	return m.prune(ctx, olderThan, m.store.PruneRevoked, "pruning revoked keys")
}

// prune runs del, a store's deletion of what is older than its cutoff, at
// now minus olderThan, and returns how many it deleted; doing names the
// step in a store error.
func (m *Manager) prune(ctx context.Context, olderThan time.Duration, del func(context.Context, time.Time) (int, error), doing string) (int, error) {
	if err := m.checkOpen(); err != nil {
		return 0, err
	}
	if olderThan < 0 {
		return 0, invalidf("olderThan %v is negative", olderThan)
	}
	sctx, cancel := m.storeCtx(ctx)
	n, err := del(sctx, m.clock().Add(-olderThan))
	cancel()
	if err != nil {
		return 0, mapStoreErr(err, nil, doing)
	}
	return n, nil
}
