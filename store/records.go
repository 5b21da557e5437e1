package store

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// HashSize is the length of a key hash in bytes.
const HashSize = 32

// Hash is the hash of a key's token (SHA-256 or HMAC-SHA-256). The token
// itself never reaches a Store.
type Hash [HashSize]byte

// Account is the stored form of an account.
type Account struct {
	// ID is the host service's own identifier, 1 to 128 bytes.
	ID string
	// Tier names the account's limits tier, for example "pro".
	Tier string
	// EmailVerified is true once the host has verified the owner's email.
	EmailVerified bool
	// CreatedAt and UpdatedAt are set by the caller.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AccountUpdate is a change to an account: nil fields are left as stored.
type AccountUpdate struct {
	Tier          *string
	EmailVerified *bool
	// UpdatedAt is always set.
	UpdatedAt time.Time
}

// Key is the stored form of an API key. A revoked key keeps every field and
// gains RevokedAt; rows are deleted only with their account (DeleteAccount).
//
// RevokedAt may lie in the future: the key is then retiring (a reissue with
// a grace period) and still active until that instant. "Revoked" means
// RevokedAt is set and not after now; "unrevoked" means RevokedAt is nil.
type Key struct {
	ID        uuid.UUID
	AccountID string
	// RootKeyID is the root key a child was issued from; for a root key it
	// is the key's own ID.
	RootKeyID uuid.UUID
	// Hash identifies the token; unique across all keys.
	Hash Hash
	// Prefix is the display prefix, for example "sk_live_root".
	Prefix string
	// Name is an optional label; "" means none.
	Name   string
	IsRoot bool
	// CreatedAt is when the key was issued.
	CreatedAt time.Time
	// LastUsedAt, ExpiresAt and RevokedAt are nil when unset.
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	// RequestsPerMonth and RequestsPerMinute are per-key overrides of the
	// tier's limits; nil means none.
	RequestsPerMonth  *int64
	RequestsPerMinute *int
	// Scopes, Metadata and AllowedNetworks are stored as given (the
	// keys.Manager validates and canonicalises them); nil means none, and
	// an empty Metadata map is returned as nil.
	Scopes          []string
	Metadata        map[string]string
	AllowedNetworks []netip.Prefix
}

// Resolved is what ResolveHash returns: a key, its account, and the ID of
// the account's active root key (uuid.Nil when there is none).
type Resolved struct {
	Key          Key
	Account      Account
	ActiveRootID uuid.UUID
}

// LastUsed is one entry of a RecordLastUsed batch.
type LastUsed struct {
	KeyID uuid.UUID
	At    time.Time
}

// Month is a calendar month in UTC, the period of a usage count.
type Month struct {
	Year  int
	Month time.Month
}

// MonthOf returns the UTC calendar month that contains t.
func MonthOf(t time.Time) Month {
	y, m, _ := t.UTC().Date()
	return Month{Year: y, Month: m}
}

// String formats m as "YYYY-MM", the form SQL backends store.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Start returns the first instant of m in UTC.
func (m Month) Start() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// Next returns the month after m.
func (m Month) Next() Month { return MonthOf(m.Start().AddDate(0, 1, 0)) }

// UsageDelta adds N requests to a key's and its account's count for Month.
type UsageDelta struct {
	AccountID string
	KeyID     uuid.UUID
	Month     Month
	N         int64
}

// UsageTotal is a key's and its account's stored count for one month.
type UsageTotal struct {
	Key     int64
	Account int64
}
