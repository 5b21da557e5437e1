package keys

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

const (
	maxAccountIDLen = 128
	maxNameLen      = 128
)

// CreateAccount stores a new account. a.ID must be 1 to 128 bytes of
// printable UTF-8 and a.Tier a configured tier ("" means Free); CreatedAt
// and UpdatedAt are set from the clock. It returns ErrAccountExists if the
// ID is taken.
func (m *Manager) CreateAccount(ctx context.Context, a Account) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	if err := validAccountID(a.ID); err != nil {
		return err
	}
	if a.Tier == "" {
		a.Tier = Free
	}
	if _, err := m.cfg.tierLimits(a.Tier); err != nil {
		return err
	}
	now := m.clock().UTC()
	sctx, cancel := m.storeCtx(ctx)
	err := m.store.CreateAccount(sctx, store.Account{
		ID: a.ID, Tier: string(a.Tier), EmailVerified: a.EmailVerified, CreatedAt: now, UpdatedAt: now,
	})
	cancel()
	if errors.Is(err, store.ErrConflict) {
		return ErrAccountExists
	}
	return mapStoreErr(err, nil, "creating account")
}

// Account returns the account with the given ID, or ErrAccountNotFound.
func (m *Manager) Account(ctx context.Context, id string) (Account, error) {
	a, err := m.openAccount(ctx, id)
	if err != nil {
		return Account{}, err
	}
	return accountFromStore(a), nil
}

// openAccount is account for a call that first needs the Manager open
// (ErrClosed otherwise).
func (m *Manager) openAccount(ctx context.Context, id string) (store.Account, error) {
	if err := m.checkOpen(); err != nil {
		return store.Account{}, err
	}
	return m.account(ctx, id)
}

// account reads an account. An ID that no account could have (empty, too
// long, control characters: say, from a session token's claim) is
// ErrAccountNotFound without a store access, so it can never reach a
// query.
func (m *Manager) account(ctx context.Context, id string) (store.Account, error) {
	if validAccountID(id) != nil {
		return store.Account{}, ErrAccountNotFound
	}
	sctx, cancel := m.storeCtx(ctx)
	a, err := m.store.Account(sctx, id)
	cancel()
	if err != nil {
		return a, mapStoreErr(err, ErrAccountNotFound, "reading account")
	}
	return a, nil
}

// SetTier moves the account to tier, which must be configured. Its keys'
// effective limits change at once in this Manager.
func (m *Manager) SetTier(ctx context.Context, accountID string, tier Tier) error {
	if _, err := m.cfg.tierLimits(tier); err != nil {
		return err
	}
	t := string(tier)
	return m.updateAccount(ctx, accountID, store.AccountUpdate{Tier: &t})
}

// SetEmailVerified records whether the account's email is verified. Keys
// are issued only to verified accounts; unverifying does not revoke keys.
func (m *Manager) SetEmailVerified(ctx context.Context, accountID string, verified bool) error {
	return m.updateAccount(ctx, accountID, store.AccountUpdate{EmailVerified: &verified})
}

func (m *Manager) updateAccount(ctx context.Context, id string, u store.AccountUpdate) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	if validAccountID(id) != nil {
		return ErrAccountNotFound
	}
	u.UpdatedAt = m.clock().UTC()
	sctx, cancel := m.storeCtx(ctx)
	err := m.store.UpdateAccount(sctx, id, u)
	cancel()
	// Invalidate even on error: the change may have committed before the
	// error (a lost reply).
	m.cache.invalidateAccount(id)
	return mapStoreErr(err, ErrAccountNotFound, "updating account")
}

// Reissue issues a new root key for the account and, in the same atomic
// step, revokes its current root key and every child key. It is also how
// an account gets its first root key. The account's email must be verified.
// Issued.Secret is the only copy of the new token.
//
// Options: WithGrace keeps the replaced keys working for a while;
// IfRoot and IfNoRoot make the reissue conditional (ErrRootKeyChanged when
// the condition does not hold). An invalid option is ErrInvalidArgument,
// and nothing changes. The new root takes the replaced root's Name and
// Metadata.
//
// Reissue is for callers that authenticated the account some other way (a
// session, an operator). A request authenticated by a root key calls
// ReissueFrom instead.
func (m *Manager) Reissue(ctx context.Context, accountID string, opts ...ReissueOption) (_ Issued, err error) {
	ctx, span := m.startOp(ctx, "keys.Reissue")
	defer span.end(&err)
	o, err := applyReissueOptions(opts)
	if err != nil {
		return Issued{}, err
	}
	return m.reissue(ctx, accountID, o, uuid.Nil)
}

// ReissueFrom is Reissue on behalf of the root key k: it succeeds only if k
// is still its account's active root key when the replacement happens,
// checked atomically in the store. So a root key revoked by another process
// (whose revocation this Manager's cache may not have seen yet) cannot mint
// its own successor, and of two concurrent reissues by one root key only
// one succeeds; the other gets ErrRevokedKey. A retiring root key (still
// in the grace of an earlier reissue) gets ErrRootKeyRetired, a child key
// ErrChildKeyForbidden. IfRoot(k.ID) passes; IfRoot of another key or
// IfNoRoot is ErrRootKeyChanged while k is the active root.
func (m *Manager) ReissueFrom(ctx context.Context, k Key, opts ...ReissueOption) (_ Issued, err error) {
	ctx, span := m.startOp(ctx, "keys.ReissueFrom")
	defer span.end(&err)
	if !k.IsRoot {
		return Issued{}, ErrChildKeyForbidden
	}
	o, err := applyReissueOptions(opts)
	if err != nil {
		return Issued{}, err
	}
	if (o.expect != uuid.Nil && o.expect != k.ID) || o.expectNone {
		// The condition fails if k is the active root; if it is not, k's
		// own state is the answer.
		if err := m.checkOpen(); err != nil {
			return Issued{}, err
		}
		if err := m.rootState(ctx, k.ID); err != nil {
			return Issued{}, err
		}
		return Issued{}, ErrRootKeyChanged
	}
	return m.reissue(ctx, k.AccountID, o, k.ID)
}

// rootState returns nil if id is an active root key, else ErrRevokedKey,
// ErrRootKeyRetired or the error reading it.
func (m *Manager) rootState(ctx context.Context, id uuid.UUID) error {
	sctx, cancel := m.storeCtx(ctx)
	k, err := m.store.Key(sctx, id)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrRevokedKey
	case err != nil:
		return mapStoreErr(err, nil, "reading root key")
	case k.RevokedAt == nil:
		return nil
	case !k.RevokedAsOf(m.clock()):
		return ErrRootKeyRetired
	default:
		return ErrRevokedKey
	}
}

// reissue replaces the account's root. self is the root key asking for its
// own replacement (ReissueFrom), uuid.Nil otherwise.
func (m *Manager) reissue(ctx context.Context, accountID string, o reissueOptions, self uuid.UUID) (Issued, error) {
	if err := m.checkOpen(); err != nil {
		return Issued{}, err
	}
	a, err := m.verifiedAccount(ctx, accountID)
	if err != nil {
		return Issued{}, err
	}
	token, h, err := m.newSecret()
	if err != nil {
		return Issued{}, err
	}
	now := m.clock().UTC()
	id := newKeyID()
	root := store.Key{ID: id, RootKeyID: id, AccountID: accountID, Hash: h,
		Prefix: m.rootPrefix, IsRoot: true, CreatedAt: now}
	r := store.Rotation{Expect: o.expect, ExpectNone: o.expectNone, Now: now}
	if self != uuid.Nil {
		r.Expect = self
	}
	if o.grace > 0 {
		r.GraceEnd = now.Add(o.grace)
	}
	sctx, cancel := m.storeCtx(ctx)
	stored, err := m.store.RotateRootKey(sctx, root, r)
	cancel()
	// Invalidate even on error: a failure after commit (a lost connection)
	// must not leave the old keys trusted here.
	m.cache.invalidateAccount(accountID)
	switch {
	case errors.Is(err, store.ErrConditionFailed) && self != uuid.Nil:
		// The account exists (verifiedAccount read it): self is no longer
		// its active root; say why.
		if serr := m.rootState(ctx, self); serr != nil {
			return Issued{}, serr
		}
		return Issued{}, ErrRevokedKey
	case errors.Is(err, store.ErrConditionFailed):
		return Issued{}, ErrRootKeyChanged
	case err != nil:
		return Issued{}, mapStoreErr(err, ErrAccountNotFound, "replacing root key")
	}
	return Issued{Key: m.keyFromStore(stored, a), Secret: token}, nil
}

// IssueChild issues a child key from the account's active root key. The
// account's email must be verified and it must have an active root key
// (ErrNoActiveRootKey). Options are checked: a name of at most 128 bytes,
// an expiry in the future, overrides positive and within the account's
// pool limits (ErrInvalidArgument).
func (m *Manager) IssueChild(ctx context.Context, accountID string, opts ChildOptions) (_ Issued, err error) {
	ctx, span := m.startOp(ctx, "keys.IssueChild")
	defer span.end(&err)
	if err := m.checkOpen(); err != nil {
		return Issued{}, err
	}
	a, err := m.verifiedAccount(ctx, accountID)
	if err != nil {
		return Issued{}, err
	}
	now := m.clock().UTC()
	child, err := m.childRecord(a, opts, now)
	if err != nil {
		return Issued{}, err
	}
	token, h, err := m.newSecret()
	if err != nil {
		return Issued{}, err
	}
	child.Hash = h
	// The root can be replaced between reading it and inserting the child
	// (the store refuses a child of a retired root); then the child belongs
	// to the new root, so read it again, a few times: ErrNoActiveRootKey
	// means the account has no active root, or reissues kept replacing it
	// faster than this could insert.
	for attempt := 1; ; attempt++ {
		sctx, cancel := m.storeCtx(ctx)
		root, err := m.store.ActiveRootKey(sctx, accountID)
		cancel()
		if err != nil {
			return Issued{}, mapStoreErr(err, ErrNoActiveRootKey, "reading root key")
		}
		child.RootKeyID = root.ID
		sctx, cancel = m.storeCtx(ctx)
		err = m.store.InsertChildKey(sctx, child)
		cancel()
		if err == nil {
			return Issued{Key: m.keyFromStore(child, a), Secret: token}, nil
		}
		if !errors.Is(err, store.ErrNotFound) || attempt == issueChildAttempts {
			return Issued{}, mapStoreErr(err, ErrNoActiveRootKey, "inserting child key")
		}
	}
}

// issueChildAttempts bounds IssueChild's retries when reissues keep
// replacing the root under it.
const issueChildAttempts = 3

// childRecord validates opts and returns the child's record without its
// root or hash.
func (m *Manager) childRecord(a store.Account, opts ChildOptions, now time.Time) (store.Key, error) {
	pool := m.poolLimits(a)
	k := store.Key{ID: newKeyID(), AccountID: a.ID, Prefix: m.childPrefix, Name: opts.Name, CreatedAt: now}
	if len(opts.Name) > maxNameLen || !utf8.ValidString(opts.Name) || hasControl(opts.Name) {
		return k, invalidf("name must be at most %d bytes of printable UTF-8", maxNameLen)
	}
	switch {
	case opts.ExpiresIn < 0:
		return k, invalidf("ExpiresIn %v is negative", opts.ExpiresIn)
	case opts.ExpiresIn > 0 && opts.ExpiresAt != nil:
		return k, invalidf("both ExpiresAt and ExpiresIn are set; use one")
	case opts.ExpiresIn > 0:
		t := now.Add(opts.ExpiresIn)
		opts.ExpiresAt = &t
	}
	if err := restrictChild(&k, &opts); err != nil {
		return k, err
	}
	var err error
	if k.ExpiresAt, err = futureExpiry(opts.ExpiresAt, now, "expiry"); err != nil {
		return k, err
	}
	if k.RequestsPerMonth, err = limitOverride(opts.RequestsPerMonth, pool.RequestsPerMonth, "monthly quota override"); err != nil {
		return k, err
	}
	k.RequestsPerMinute, err = limitOverride(opts.RequestsPerMinute, pool.RequestsPerMinute, "per-minute rate override")
	return k, err
}

// futureExpiry checks a key's expiry, p: none (nil), or after now. It
// returns a copy in UTC; name is what an error calls the expiry.
func futureExpiry(p *time.Time, now time.Time, name string) (*time.Time, error) {
	if p == nil {
		return nil, nil
	}
	if !p.After(now) {
		return nil, invalidf("%s %s is not in the future", name, p.UTC().Format(timeFormat))
	}
	t := p.UTC()
	return &t, nil
}

// limitOverride checks a key's override of a pool limit, p: none (nil), or
// 1 to the pool's own limit. It returns a copy; name is what an error
// calls the override.
func limitOverride[T int | int64](p *T, pool T, name string) (*T, error) {
	if p == nil {
		return nil, nil
	}
	if *p <= 0 || *p > pool {
		return nil, invalidf("%s %d must be between 1 and the account's %d", name, *p, pool)
	}
	v := *p
	return &v, nil
}

// Revoke revokes the key with the given ID at once; revoking a root key
// also revokes its children. Revoking a revoked key is not an error. It
// returns ErrKeyNotFound for an unknown ID.
func (m *Manager) Revoke(ctx context.Context, id uuid.UUID) (err error) {
	ctx, span := m.startOp(ctx, "keys.Revoke")
	defer span.end(&err)
	if err := m.checkOpen(); err != nil {
		return err
	}
	sctx, cancel := m.storeCtx(ctx)
	k, err := m.store.RevokeKey(sctx, id, m.clock().UTC())
	cancel()
	switch {
	case err == nil:
		m.cache.invalidateAccount(k.AccountID)
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrKeyNotFound
	default:
		// The revocation may have committed before the error (a lost
		// reply), and the failed call does not say whose key it was: drop
		// the whole cache rather than trust it.
		m.cache.invalidateAll()
		return mapStoreErr(err, nil, "revoking key")
	}
}

func (m *Manager) verifiedAccount(ctx context.Context, id string) (store.Account, error) {
	a, err := m.account(ctx, id)
	if err != nil {
		return a, err
	}
	if !a.EmailVerified {
		return a, ErrEmailNotVerified
	}
	return a, nil
}

func (m *Manager) newSecret() (string, store.Hash, error) {
	token, err := m.format.newToken()
	if err != nil {
		return "", store.Hash{}, err
	}
	return token, m.hasher.sum(token), nil
}

// newKeyID returns a time-ordered UUIDv7, so that keys sort by issue time
// in indexes; it falls back to a random UUID if v7 generation fails.
func newKeyID() uuid.UUID {
	if id, err := uuid.NewV7(); err == nil {
		return id
	}
	return uuid.New()
}

func validAccountID(id string) error {
	if len(id) == 0 || len(id) > maxAccountIDLen || !utf8.ValidString(id) || hasControl(id) {
		return invalidf("account ID must be 1 to %d bytes of printable UTF-8", maxAccountIDLen)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
