package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors every backend returns (possibly wrapped); test them with
// errors.Is.
var (
	// ErrNotFound means the account, key or active root the call names does
	// not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means the write would break a uniqueness rule: an account
	// ID, a key ID or a key hash that already exists, or a second active root
	// key for one account.
	ErrConflict = errors.New("store: conflict")
	// ErrConditionFailed means a Rotation's condition (Expect or
	// ExpectNone) did not hold; nothing changed.
	ErrConditionFailed = errors.New("store: condition failed")
)

// Store is the storage contract of a keys.Manager. All methods are safe for
// concurrent use. Times passed in are stored as given, truncated to the
// microsecond, and returned in UTC; a method that writes a timestamp takes
// it as an argument, so the caller's clock rules. A root key is "active" to
// a Store while its RevokedAt is nil: roots carry no expiry in this library,
// and a root whose RevokedAt lies in the future is retiring (it was replaced
// with a grace period), not active. "Not revoked as of now" means RevokedAt
// is nil or after now.
type Store interface {
	// CreateAccount inserts a. It returns ErrConflict if an account with
	// a.ID exists. It does not validate a.Tier.
	CreateAccount(ctx context.Context, a Account) error

	// Account returns the account with the given ID, or ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)

	// UpdateAccount changes the account with the given ID in one atomic
	// statement: each non-nil field of u replaces the stored one, and
	// UpdatedAt is set, so concurrent updates of different fields (from
	// several processes) never undo each other. It returns ErrNotFound if
	// no such account exists.
	UpdateAccount(ctx context.Context, id string, u AccountUpdate) error

	// ReplaceRootKey makes root the account's only active root key, in one
	// atomic step: every key of the account not revoked as of now (the
	// active root, its children, and keys still in the grace of an earlier
	// rotation) gets RevokedAt = now, then root is inserted. It is
	// RotateRootKey without a grace period and with expect as the only
	// condition, except for the error of a failed expect. root.IsRoot must be true and root.RootKeyID must equal
	// root.ID. If expect is not uuid.Nil, the step happens only while
	// expect is the account's unrevoked root key, checked inside it (a root
	// key revoked elsewhere must not be able to mint its successor).
	//
	// It returns ErrNotFound if the account does not exist or expect is not
	// its active root, and ErrConflict if root's ID or hash already exists;
	// then nothing changes. Concurrent calls for one account serialise:
	// when they have all returned, exactly one root key of the account is
	// unrevoked, and of several calls expecting the same root, one wins.
	ReplaceRootKey(ctx context.Context, root Key, expect uuid.UUID, now time.Time) error

	// InsertChildKey inserts the child key k, atomically with checking that
	// k.RootKeyID is the unrevoked root key of account k.AccountID. It
	// returns ErrNotFound if that root is missing, revoked, or belongs to
	// another account (so a child can never be attached to a root that a
	// concurrent ReplaceRootKey or RevokeKey has revoked), and ErrConflict
	// if k's ID or hash already exists. k.IsRoot must be false.
	InsertChildKey(ctx context.Context, k Key) error

	// RevokeKey sets RevokedAt = now on the key with the given ID if it is
	// not revoked as of now (a retiring key's grace ends at once). In the
	// same step, if it is the account's active root, every key of the
	// account not revoked as of now is revoked too (the account is left
	// without an active root); if it is a retiring root, its children not
	// revoked as of now are. Revoking a revoked key changes nothing and is
	// not an error. It returns the key as stored
	// after the call (a revoked key keeps its first revocation time), or
	// ErrNotFound.
	RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (Key, error)

	// Key returns the key with the given ID, revoked or not, or ErrNotFound.
	Key(ctx context.Context, id uuid.UUID) (Key, error)

	// ResolveHash returns the key whose hash is h, with its account and the
	// ID of the account's currently active root key (uuid.Nil when it has
	// none), read together so that Authenticate needs one round trip.
	// Revoked and expired keys are returned as stored. It returns
	// ErrNotFound if no key has that hash.
	ResolveHash(ctx context.Context, h Hash) (Resolved, error)

	// ActiveRootKey returns the account's unrevoked root key, or ErrNotFound
	// when the account has none or does not exist.
	ActiveRootKey(ctx context.Context, accountID string) (Key, error)

	// ListKeys returns every key of the account, revoked ones included,
	// oldest first (ties broken by ID). An unknown account or one with no
	// keys yields an empty slice and no error.
	ListKeys(ctx context.Context, accountID string) ([]Key, error)

	// RecordLastUsed sets each named key's LastUsedAt to the given time
	// unless the stored time is later, all in one atomic batch. IDs that do
	// not exist are ignored. An empty batch does nothing.
	RecordLastUsed(ctx context.Context, batch []LastUsed) error

	// AddUsage adds every delta's N to the key's count and to the account's
	// count for the delta's month, creating counts at zero as needed, all
	// in one atomic batch, and returns the totals after the addition, one
	// per delta in the same order. Several deltas may name the same key or
	// account; each total then reflects the batch up to and including that
	// delta. Deltas for keys that do not exist are counted all the same
	// (usage is a ledger, not a foreign key). An empty batch does nothing.
	//
	// flushID makes a retry safe: a store records it in the same
	// transaction as the counts, and a batch whose flushID was applied
	// before (within FlushIDRetention) adds nothing and returns the current
	// totals of each delta's key and account instead. So a caller that
	// lost the reply of a committed call retries with the same flushID and
	// batch, and nothing is counted twice. uuid.Nil records nothing: the
	// batch is always applied.
	AddUsage(ctx context.Context, flushID uuid.UUID, batch []UsageDelta) ([]UsageTotal, error)

	// Usage returns the stored counts of one key and of its account for one
	// month; counts never written are zero. It never returns ErrNotFound.
	Usage(ctx context.Context, accountID string, keyID uuid.UUID, month Month) (UsageTotal, error)

	// InitSetting stores value under name unless a value is stored under
	// that name already, and returns what is stored after the call: value
	// the first time, the earlier value ever after (a setting is written
	// once and never changed). Concurrent calls for one name, from any
	// process, all return the same value. name is 1 to 128 bytes; value may
	// be empty. Settings are the store's own facts about itself (such as a
	// fingerprint of the pepper its key hashes were made with), not secrets.
	InitSetting(ctx context.Context, name, value string) (stored string, err error)

	// PruneRevoked deletes, in one atomic step, every key whose RevokedAt
	// is at or before before, with the key's own usage counts (the
	// account's counts stay), and returns how many keys it deleted. A root
	// key is kept while it has a child that is not deleted with it, so no
	// key ever names a missing root. A pruned key is gone: Key and
	// ResolveHash return ErrNotFound for it, and its ID and hash may be
	// stored again.
	PruneRevoked(ctx context.Context, before time.Time) (n int, err error)

	// ListKeysPage returns at most limit keys of the account, ordered by
	// (CreatedAt, ID) like ListKeys, starting after the position after (the
	// zero KeyCursor starts at the beginning). Unless includeRevoked is
	// set it leaves out the keys whose RevokedAt is at or before now
	// (expired keys are included). Paging by position rather than by
	// offset keeps it right while keys are added or revoked between pages:
	// a key present throughout is returned exactly once, and keys issued
	// later come at the end. limit must be positive. An unknown account
	// yields an empty slice and no error.
	ListKeysPage(ctx context.Context, accountID string, after KeyCursor, limit int, includeRevoked bool, now time.Time) ([]Key, error)

	// RotateRootKey makes root the account's active root key in one atomic
	// step, under r's condition and grace; it returns the root as stored.
	// Under the account's lock it checks the condition (Expect: that key
	// is the account's active root; ExpectNone: the account has no active
	// root), then:
	//   - without a grace (r.GraceEnd not after r.Now), every key of the
	//     account not revoked as of r.Now gets RevokedAt = r.Now, ending
	//     any running grace;
	//   - with one, every unrevoked key gets RevokedAt = r.GraceEnd and
	//     every retiring key keeps the earlier of its own RevokedAt and
	//     r.GraceEnd (a grace never extends anything);
	// then root is inserted, taking the replaced active root's Name and
	// Metadata when its own are empty. root.IsRoot must be true and
	// root.RootKeyID must equal root.ID. The work is a constant number of
	// statements however many keys the account has.
	//
	// It returns ErrNotFound if the account does not exist,
	// ErrConditionFailed if the condition does not hold, and ErrConflict if
	// root's ID or hash already exists; then nothing changes. Concurrent
	// calls for one account serialise: when they have all returned, exactly
	// one root key of the account has a nil RevokedAt, and of several calls
	// with the same condition, at most one succeeds.
	RotateRootKey(ctx context.Context, root Key, r Rotation) (Key, error)

	// DeleteAccount removes the account, every key of it and every usage
	// count of it (the account's and its keys'), in one atomic step, for an
	// erasure request: afterwards its tokens are unknown and its ID is free.
	// Its audit events stay (AuditEvents), with account.deleted added, but
	// lose their IP and UserAgent (personal data): what remains names the
	// account and its keys by ID only.
	// It returns ErrNotFound if no such account exists.
	DeleteAccount(ctx context.Context, id string) error

	// ListAccounts returns up to limit accounts whose ID sorts after after
	// (byte order; "" starts at the beginning), in that order. limit must be
	// positive. An empty slice means there are no more.
	ListAccounts(ctx context.Context, after string, limit int) ([]Account, error)

	// RevokeLeaked is the answer to a leak report, in one atomic step. A key
	// is live here when its RevokedAt is nil or later than now (a key in a
	// rotation grace is live); a live key is revoked by setting its
	// RevokedAt to now, and a key revoked at or before now keeps its time.
	// The step revokes every live key named in ids and, for every live root
	// key among them, every live key of that root's account, whichever root
	// is the active one: a leaked root is a compromise of the whole account.
	// Nothing is inserted, so such an account is left without an active
	// root key until its owner reissues.
	//
	// IDs that do not exist, and repeated IDs, are ignored; an empty ids
	// changes nothing. It returns every key whose RevokedAt this call set,
	// as stored after the call, ordered by account ID, then CreatedAt, then
	// ID, and an empty slice (not an error) when nothing was live (a report
	// made twice revokes once). It serialises with ReplaceRootKey,
	// InsertChildKey and RevokeKey on the same accounts, so a child
	// inserted concurrently under a leaked root is either revoked by it or
	// refused.
	RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]Key, error)

	// AccountUsage returns, in one read, the stored count of the account
	// for the month and the count of every key of the account (a key whose
	// AccountID is accountID) that has one. Counts never written are zero
	// (and such keys are absent from Keys); counts of keys that do not
	// exist are not returned. An unknown account yields zero counts and no
	// error: it never returns ErrNotFound.
	AccountUsage(ctx context.Context, accountID string, month Month) (AccountUsage, error)

	// UpdateKey applies u to the key with the given ID in one atomic step,
	// if that key belongs to accountID and is not revoked as of now (its
	// RevokedAt is nil or after now), and returns the key as stored after
	// the change. It returns ErrNotFound if no such key of that account
	// exists, and ErrRevoked if it is revoked; then nothing changes. An
	// empty update changes nothing and returns the key. It never changes
	// RevokedAt, and does not check what the fields mean (a root with an
	// expiry, say): that is the caller's policy.
	UpdateKey(ctx context.Context, accountID string, id uuid.UUID, u KeyUpdate, now time.Time) (Key, error)

	// AuditEvents returns at most limit audit events of the account, newest
	// first ((OccurredAt, ID) descending, CompareEvents), starting after
	// the position after (the zero EventCursor starts at the newest).
	// Paging by position keeps pages right while events are added: newer
	// events come before the first page, never inside a later one. Events
	// of a deleted account are kept and returned. limit must be positive;
	// an account without events yields an empty slice and no error.
	//
	// Every change method writes its events (built with NewEvent, the
	// actor from the context's Audit) in the same transaction as the
	// change, so a change that fails or changes nothing writes none:
	//   - CreateAccount: account.created;
	//   - UpdateAccount: account.tier_changed when Tier is set and
	//     account.email_verified when EmailVerified is set;
	//   - RotateRootKey and ReplaceRootKey: key.reissued when the account
	//     had an active root, key.issued when it had none;
	//   - InsertChildKey: key.issued;
	//   - RevokeKey: key.revoked, unless the key was revoked already;
	//   - RevokeLeaked: key.leaked, one per account of a named key that
	//     exists (action "revoked" when it revoked one, else "reported");
	//   - PruneRevoked: keys.pruned, one per account with keys deleted;
	//   - DeleteAccount: account.deleted.
	// Event data per type is in the README.
	AuditEvents(ctx context.Context, accountID string, after EventCursor, limit int) ([]Event, error)

	// PruneAuditEvents deletes, in one atomic step, every audit event (of
	// any account, deleted or not) whose OccurredAt is before before, and
	// returns how many. It writes no event.
	PruneAuditEvents(ctx context.Context, before time.Time) (int, error)
}

// ExpiringLister is an optional capability of a Store: listing, across
// every account, the keys about to expire. A keys.Manager with
// Config.OnEvent over a Store that implements it sends key.expiring
// notices for every such key, used or not; over one that does not, only
// for the keys it has cached. Every backend of this module implements it.
type ExpiringLister interface {
	// ListExpiringKeys returns at most limit keys, of every account, whose
	// own ExpiresAt is after now and at or before until, and that are not
	// revoked as of now (RevokedAsOf: a retiring key is live until its
	// RevokedAt, a key revoked outright is revoked whatever its time). Keys
	// without an expiry are never returned. It does not look at a child's
	// root: revocations reach children in the step that revokes the root.
	//
	// Keys are ordered by (ExpiresAt, ID) (CompareExpiry), starting after
	// the position after (the zero ExpiryCursor starts at the beginning;
	// ExpiryCursorAfter of a page's last key is where the next starts).
	// Paging by position keeps it right while keys are added or revoked
	// between pages: a key in the window throughout, with the same
	// ExpiresAt, is returned exactly once (one whose expiry changes between
	// pages may be missed or returned twice). Every page of one listing
	// should be read with the same now and until. limit must be positive;
	// until not after now yields an empty slice and no error. It is for a
	// host's reminders of keys about to stop, so it reads an index on the
	// expiry, never every key.
	ListExpiringKeys(ctx context.Context, after ExpiryCursor, limit int, now, until time.Time) ([]Key, error)
}

// Notifier is an optional capability of a Store shared by several
// processes: it reports changes that any process made, so that every
// keys.Manager can drop what it cached at once instead of after its
// CacheTTL. A keys.Manager over a Store that implements Notifier subscribes
// in New and stops in Close.
type Notifier interface {
	// Subscribe calls fn with the account ID of every account whose keys or
	// settings change (ReplaceRootKey, RevokeKey, RevokeLeaked, UpdateAccount), from any
	// process, until ctx is done; then it returns ctx.Err(). It reconnects
	// by itself after a lost connection and then calls fn("") (the empty
	// account ID means anything may have changed), since notifications
	// sent while it was disconnected are lost. fn must not block.
	Subscribe(ctx context.Context, fn func(accountID string)) error
}

// HashResolver is an optional capability of a Store: resolving many key
// hashes at once, so that a leak report of a thousand tokens costs a few
// queries rather than a thousand. A keys.Manager uses it when its Store
// has it and calls ResolveHash once per hash otherwise.
type HashResolver interface {
	// ResolveHashes returns, for every hash in hashes that a key has, what
	// ResolveHash returns for it; hashes no key has are absent, and
	// repeated hashes are answered once. It reads in chunks of at most 500
	// hashes, each one consistent snapshot. An empty hashes returns an
	// empty map.
	ResolveHashes(ctx context.Context, hashes []Hash) (map[Hash]Resolved, error)
}
