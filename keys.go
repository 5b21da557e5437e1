package keys

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Tier names a set of limits. The built-in tiers are Free, Starter, Pro and
// Quant; Config.Tiers may change their limits or add tiers.
type Tier string

// The built-in tiers.
const (
	Free    Tier = "free"
	Starter Tier = "starter"
	Pro     Tier = "pro"
	Quant   Tier = "quant"
)

// Limits are a per-minute request rate and a monthly request quota.
type Limits struct {
	// RequestsPerMinute is the rate: N requests at once from idle and, held
	// steady, N per minute.
	RequestsPerMinute int
	// RequestsPerMonth is the quota for a calendar month in UTC.
	RequestsPerMonth int64
}

// Account is a customer account of the host service.
type Account struct {
	// ID is the host's own identifier, 1 to 128 bytes.
	ID string
	// Tier selects the account's limits; "" means Free.
	Tier Tier
	// EmailVerified must be true before any key is issued.
	EmailVerified bool
	// CreatedAt and UpdatedAt are set by the Manager.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key is an API key's metadata. It never holds the token or its hash.
//
// A Key returned by Authenticate shares its pointed-to values (ExpiresAt,
// overrides, ...) and its slices and map (Scopes, Metadata,
// AllowedNetworks) with the Manager's cache so that resolving a key does
// not allocate: treat them as read-only. Because of those, Key is not
// comparable with ==; compare IDs.
type Key struct {
	ID uuid.UUID
	// RootKeyID is the root key a child was issued from; a root key's is its
	// own ID.
	RootKeyID uuid.UUID
	AccountID string
	// Prefix is the display prefix: "sk_live_root", "sk_live_child", or the
	// sk_test_ forms.
	Prefix string
	// Name is an optional label; "" means none.
	Name   string
	IsRoot bool
	// CreatedAt is when the key was issued.
	CreatedAt time.Time
	// LastUsedAt is when the key last authenticated, as the store had it
	// when the key was read: uses are written every FlushInterval, and a
	// Key from Authenticate comes from the cache, so it can lag by up to
	// CacheTTL + FlushInterval. nil if never.
	LastUsedAt *time.Time
	// ExpiresAt is when the key stops working; nil means never.
	ExpiresAt *time.Time
	// RevokedAt is when the key was revoked; nil means it is not. A time
	// in the future means the key is retiring: it was replaced by a
	// reissue with a grace period (WithGrace) and works until then.
	RevokedAt *time.Time
	// RequestsPerMonthOverride and RequestsPerMinuteOverride replace the
	// tier's limits for this key; nil means the tier's.
	RequestsPerMonthOverride  *int64
	RequestsPerMinuteOverride *int
	// Effective are the limits that apply to this key: its overrides where
	// set, else its account tier's.
	Effective Limits
	// Pool are the limits that all keys of the account share: the root key's
	// effective limits, which are the account tier's.
	Pool Limits

	// Scopes are what a child key may do, sorted and without duplicates;
	// nil means unrestricted (always so for a root key). See HasScope.
	Scopes []string
	// Metadata are the host's own labels for the key; nil means none.
	Metadata map[string]string
	// AllowedNetworks are the client networks the key may be used from,
	// canonical (masked, sorted, none inside another); nil means anywhere.
	// See AllowsAddr.
	AllowedNetworks []netip.Prefix

	// ent is the cache entry the key was resolved from, so Allow can tell at
	// once whether the key has been revoked since; nil for keys that did not
	// come from Authenticate.
	ent *entry
}

// Active reports whether k is neither revoked nor past its expiry at now.
// A retiring key (RevokedAt in the future) is active until its RevokedAt.
func (k Key) Active(now time.Time) bool {
	return (k.RevokedAt == nil || now.Before(*k.RevokedAt)) && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// String describes k without anything secret.
func (k Key) String() string {
	return fmt.Sprintf("keys.Key{ID: %s, Account: %q, Prefix: %s}", k.ID, k.AccountID, k.Prefix)
}

// LogValue implements slog.LogValuer: the key's ID, account and prefix.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", k.ID.String()),
		slog.String("account", k.AccountID),
		slog.String("prefix", k.Prefix),
	)
}

// Issued is what an issue call returns: the new key's metadata and its
// plaintext token. Secret exists nowhere else: it is not stored, logged or
// printed, so hand it to the user and drop it.
type Issued struct {
	Key    Key
	Secret string
}

// String describes the issued key with its secret redacted, so that an
// accidental fmt.Print or log line does not leak it.
func (i Issued) String() string {
	return fmt.Sprintf("keys.Issued{Key: %s, Secret: [REDACTED]}", i.Key)
}

// GoString redacts the secret under %#v as well.
func (i Issued) GoString() string { return i.String() }

// LogValue implements slog.LogValuer with the secret redacted.
func (i Issued) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("key", i.Key), slog.String("secret", "[REDACTED]"))
}

// ChildOptions configure IssueChild. The zero value issues an unnamed child
// that never expires and has its tier's limits.
type ChildOptions struct {
	// Name is an optional label, at most 128 bytes.
	Name string
	// ExpiresAt, if set, must be in the future.
	ExpiresAt *time.Time
	// RequestsPerMonth overrides the tier's monthly quota; it must be
	// positive and not above the account's pool quota. nil = tier default.
	RequestsPerMonth *int64
	// RequestsPerMinute overrides the tier's rate; it must be positive and
	// not above the account's pool rate. nil = tier default.
	RequestsPerMinute *int
	// ExpiresIn, if positive, sets the expiry to the Manager's clock plus
	// ExpiresIn; it cannot be combined with ExpiresAt. 0 = not used.
	ExpiresIn time.Duration
	// Scopes restrict the key to what they name (1 to 64 characters of
	// a-z 0-9 : . _ -, at most 32); nil = unrestricted. An empty non-nil
	// slice is refused: omit it for an unrestricted key.
	Scopes []string
	// Metadata are the host's labels: at most 16 pairs, keys 1 to 64
	// bytes of A-Z a-z 0-9 _ . -, values at most 256 bytes of UTF-8.
	Metadata map[string]string
	// AllowedNetworks restrict where the key may be used from (at most 32
	// IPv4 or IPv6 prefixes; the HTTP adapter checks them); nil = anywhere.
	// An empty non-nil slice is refused.
	AllowedNetworks []netip.Prefix
}

// Errors returned by the Manager, tested with errors.Is. ErrInvalidArgument
// is wrapped with the detail.
var (
	ErrMalformedKey      = errors.New("keys: malformed API key")
	ErrUnknownKey        = errors.New("keys: unknown API key")
	ErrRevokedKey        = errors.New("keys: API key revoked")
	ErrExpiredKey        = errors.New("keys: API key expired")
	ErrEmailNotVerified  = errors.New("keys: email not verified")
	ErrChildKeyForbidden = errors.New("keys: a child key cannot do this")
	ErrNoActiveRootKey   = errors.New("keys: account has no active root key")
	ErrAccountNotFound   = errors.New("keys: account not found")
	ErrAccountExists     = errors.New("keys: account already exists")
	ErrKeyNotFound       = errors.New("keys: key not found")
	ErrInvalidArgument   = errors.New("keys: invalid argument")
	ErrRateLimited       = errors.New("keys: rate limit exceeded")
	ErrQuotaExceeded     = errors.New("keys: monthly quota exceeded")
	ErrClosed            = errors.New("keys: manager closed")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
