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

// Page sizes of ListKeysPage.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// PageOptions select a page of ListKeysPage. The zero value is the first
// page of DefaultPageSize keys, revoked ones left out.
type PageOptions struct {
	// Limit is the most keys a page holds, 1 to MaxPageSize; 0 means
	// DefaultPageSize.
	Limit int
	// Cursor is a previous page's NextCursor; "" means the first page.
	Cursor string
	// IncludeRevoked adds the keys revoked as of now.
	IncludeRevoked bool
}

// KeyPage is one page of an account's keys.
type KeyPage struct {
	// Keys are oldest first (by CreatedAt, then ID).
	Keys []Key
	// NextCursor fetches the next page; "" on the last one.
	NextCursor string
}

// ListKeysPage returns one page of the account's keys, oldest first (by
// CreatedAt, then ID): every key not revoked as of now (expired ones
// included), and with IncludeRevoked the revoked ones too. A cursor is a
// position in that order, not an offset, so paging stays correct while
// keys are added or revoked between pages: nothing is listed twice, and
// nothing that existed throughout is skipped. A cursor is opaque and
// positions within the caller's own account; one that does not decode,
// or a limit out of range, is ErrInvalidArgument naming "cursor" or
// "limit". An unknown account is ErrAccountNotFound.
func (m *Manager) ListKeysPage(ctx context.Context, accountID string, opts PageOptions) (KeyPage, error) {
	if err := m.checkOpen(); err != nil {
		return KeyPage{}, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return KeyPage{}, invalidf("limit %d must be between 1 and %d", opts.Limit, MaxPageSize)
	}
	var after *keyPosition
	if opts.Cursor != "" {
		p, ok := decodeCursor(opts.Cursor)
		if !ok {
			return KeyPage{}, invalidf("cursor is not one this API returned")
		}
		after = &p
	}
	a, err := m.account(ctx, accountID)
	if err != nil {
		return KeyPage{}, err
	}
	stored, err := m.pageSource(ctx, accountID)
	if err != nil {
		return KeyPage{}, err
	}
	now := m.clock()
	page := KeyPage{Keys: make([]Key, 0, min(limit, len(stored)))}
	for i := range stored {
		sk := &stored[i]
		if after != nil && !after.before(sk) {
			continue
		}
		if !opts.IncludeRevoked && sk.RevokedAt != nil && !sk.RevokedAt.After(now) {
			continue
		}
		if len(page.Keys) == limit {
			last := page.Keys[limit-1]
			page.NextCursor = encodeCursor(keyPosition{created: last.CreatedAt, id: last.ID})
			break
		}
		page.Keys = append(page.Keys, m.keyFromStore(*sk, a))
	}
	return page, nil
}

// pageSource returns the account's keys in list order, the seam where a
// store's own paging plugs in.
func (m *Manager) pageSource(ctx context.Context, accountID string) ([]store.Key, error) {
	ks, err := m.store.ListKeys(ctx, accountID)
	if err != nil {
		return nil, mapStoreErr(err, nil, "listing keys")
	}
	return ks, nil
}

// keyPosition is a place in the list order: a key's creation time (to
// the microsecond, as stores keep it) and ID.
type keyPosition struct {
	created time.Time
	id      uuid.UUID
}

// before reports whether p sorts before k.
func (p keyPosition) before(k *store.Key) bool {
	pc, kc := p.created.UnixMicro(), k.CreatedAt.UnixMicro()
	if pc != kc {
		return pc < kc
	}
	return bytes.Compare(p.id[:], k.ID[:]) < 0
}

// cursorVersion leads every cursor, so the format can change without old
// cursors being misread.
const cursorVersion = 1

func encodeCursor(p keyPosition) string {
	var b [1 + 8 + 16]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(p.created.UnixMicro()))
	copy(b[9:], p.id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (keyPosition, bool) {
	var b [1 + 8 + 16]byte
	if base64.RawURLEncoding.EncodedLen(len(b)) != len(s) {
		return keyPosition{}, false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	if err != nil || n != len(b) || b[0] != cursorVersion {
		return keyPosition{}, false
	}
	var p keyPosition
	p.created = time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(p.id[:], b[9:])
	return p, true
}
