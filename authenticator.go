package keys

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

const timeFormat = time.RFC3339

// Authenticate resolves a presented token to its key, with Effective and
// Pool limits filled in. It returns ErrMalformedKey for a token of the wrong
// shape, environment or checksum (without touching the store),
// ErrUnknownKey, ErrBusy (a token not in the cache past the budget of
// Config.LookupRate), ErrRevokedKey (also for a child whose root has been
// replaced or revoked) or ErrExpiredKey. A warm key is answered from memory
// without allocating; its use is recorded for the next flush.
func (m *Manager) Authenticate(ctx context.Context, token string) (Key, error) {
	if !m.format.check(token) {
		m.stats.countMalformed(&m.format, token)
		return Key{}, ErrMalformedKey
	}
	if m.closed.Load() {
		m.stats.stripe(0).countAuth(ErrClosed)
		return Key{}, ErrClosed
	}
	h := m.hasher.sum(token)
	st := m.stats.stripe(h[0])
	now := m.now()
	e := m.cache.get(&h, now.mono)
	if e == nil {
		st.miss()
		var err error
		if e, err = m.lookup(ctx, token, h, now); err != nil {
			st.countAuth(err)
			return Key{}, err
		}
	} else {
		st.hit()
	}
	if e.err != nil {
		st.countAuth(e.err)
		return Key{}, e.err
	}
	if now.wall >= e.expiresAt {
		err := e.stopped(now.wall)
		st.countAuth(err)
		return Key{}, err
	}
	st.ok()
	m.lastUsed.touch(e, now.wall)
	k := e.key
	k.ent = e
	return k, nil
}

// resolve reads the key with hash h from the store and caches it as
// loaded at now.
func (m *Manager) resolve(ctx context.Context, h *store.Hash, now instant) (*entry, error) {
	seq := m.cache.begin()
	sctx, cancel := m.storeCtx(ctx)
	r, err := m.store.ResolveHash(sctx, *h)
	cancel()
	if err != nil {
		return nil, mapStoreErr(err, ErrUnknownKey, "resolving key")
	}
	e := &entry{
		hash:      *h,
		key:       m.keyFromStore(r.Key, r.Account),
		expiresAt: unixNano(r.Key.ExpiresAt),
		revokesAt: unixNano(r.Key.RevokedAt),
		slot:      m.cache.slotOf(r.Key.AccountID),
		seq:       seq,
		loadedAt:  now.mono,
	}
	e.keyRate, e.poolRate = paramsOf(e.key.Effective.RequestsPerMinute), paramsOf(e.key.Pool.RequestsPerMinute)
	if revoked(&r, time.Unix(0, now.wall)) {
		e.err = ErrRevokedKey
	}
	// A retiring key stops at its RevokedAt like at an expiry, without a
	// store read; stopped tells the two apart.
	e.expiresAt = min(e.expiresAt, e.revokesAt)
	m.cache.put(e)
	return e, nil
}

// revoked reports whether a resolved key is dead at now: revoked itself
// (RevokedAt not after now), or a child with no RevokedAt of its own whose
// root is not the account's active root. A child whose root was replaced
// with a grace carries the grace end as its own RevokedAt, stamped in the
// same step. Checking the root here means no path that forgets the cascade
// can keep a child alive.
func revoked(r *store.Resolved, now time.Time) bool {
	return r.Key.RevokedAsOf(now) ||
		(!r.Key.IsRoot && r.Key.RevokedAt == nil && r.Key.RootKeyID != r.ActiveRootID)
}

// RootKey returns the account's active root key, for callers that
// authenticated the account some other way (a session). It returns
// ErrAccountNotFound or ErrNoActiveRootKey.
func (m *Manager) RootKey(ctx context.Context, accountID string) (Key, error) {
	a, err := m.openAccount(ctx, accountID)
	if err != nil {
		return Key{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	k, err := m.store.ActiveRootKey(sctx, accountID)
	cancel()
	if err != nil {
		return Key{}, mapStoreErr(err, ErrNoActiveRootKey, "reading root key")
	}
	return m.keyFromStore(k, a), nil
}

// Key returns the key with the given ID, revoked or not, or ErrKeyNotFound.
func (m *Manager) Key(ctx context.Context, id uuid.UUID) (Key, error) {
	if err := m.checkOpen(); err != nil {
		return Key{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	k, err := m.store.Key(sctx, id)
	cancel()
	if err != nil {
		return Key{}, mapStoreErr(err, ErrKeyNotFound, "reading key")
	}
	sctx, cancel = m.storeCtx(ctx)
	a, err := m.store.Account(sctx, k.AccountID)
	cancel()
	if err != nil {
		return Key{}, mapStoreErr(err, nil, "reading the key's account")
	}
	return m.keyFromStore(k, a), nil
}

// ListKeys returns every key of the account, revoked ones included, oldest
// first. It returns ErrAccountNotFound for an unknown account.
func (m *Manager) ListKeys(ctx context.Context, accountID string) ([]Key, error) {
	a, err := m.openAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	sctx, cancel := m.storeCtx(ctx)
	ks, err := m.store.ListKeys(sctx, accountID)
	cancel()
	if err != nil {
		return nil, mapStoreErr(err, nil, "listing keys")
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = m.keyFromStore(k, a)
	}
	return out, nil
}

// keyFromStore converts a stored key, filling in its limits from its
// account's tier. Every Key the Manager hands out is built here, so what it
// reports as Effective is what Allow enforces.
func (m *Manager) keyFromStore(k store.Key, a store.Account) Key {
	pool := m.poolLimits(a)
	eff := effectiveLimits(k, pool)
	return Key{
		ID: k.ID, RootKeyID: k.RootKeyID, AccountID: k.AccountID,
		Prefix: k.Prefix, Name: k.Name, IsRoot: k.IsRoot, CreatedAt: k.CreatedAt.UTC(),
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		final:                    k.RevokedAt != nil && !k.Retiring,
		RequestsPerMonthOverride: k.RequestsPerMonth, RequestsPerMinuteOverride: k.RequestsPerMinute,
		Effective: eff, Pool: pool,
		Scopes: k.Scopes, Metadata: k.Metadata, AllowedNetworks: k.AllowedNetworks,
	}
}

// effectiveLimits returns what is enforced on k under pool: each override
// where it is set and not above the pool, else the pool. An override can
// exceed the pool once the account moves to a lower tier; the pool binds
// then, and reporting the override would promise what Allow refuses.
func effectiveLimits(k store.Key, pool Limits) Limits {
	eff := pool
	if k.RequestsPerMonth != nil {
		eff.RequestsPerMonth = min(*k.RequestsPerMonth, pool.RequestsPerMonth)
	}
	if k.RequestsPerMinute != nil {
		eff.RequestsPerMinute = min(*k.RequestsPerMinute, pool.RequestsPerMinute)
	}
	return eff
}

// poolLimits returns the limits the account's keys share: its tier's. A
// tier that is no longer configured falls back to Free, the most
// conservative built-in, and is logged.
func (m *Manager) poolLimits(a store.Account) Limits {
	l, err := m.cfg.tierLimits(Tier(a.Tier))
	if err != nil {
		m.log.Warn("keys: account has an unconfigured tier; using free limits", "account", a.ID, "tier", a.Tier)
		return m.cfg.Tiers[Free]
	}
	return l
}

func accountFromStore(a store.Account) Account {
	return Account{ID: a.ID, Tier: Tier(a.Tier), EmailVerified: a.EmailVerified,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
}

// Inspect resolves a token for an operator tool: like Authenticate, but it
// always reads the store (never the cache), records no use, and for a
// revoked or expired key returns the key's metadata along with
// ErrRevokedKey or ErrExpiredKey. For a malformed or unknown token it
// returns a zero Key and ErrMalformedKey or ErrUnknownKey.
func (m *Manager) Inspect(ctx context.Context, token string) (Key, error) {
	if !m.format.check(token) {
		return Key{}, ErrMalformedKey
	}
	if err := m.checkOpen(); err != nil {
		return Key{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	r, err := m.store.ResolveHash(sctx, m.hasher.sum(token))
	cancel()
	if err != nil {
		return Key{}, mapStoreErr(err, ErrUnknownKey, "resolving key")
	}
	k := m.keyFromStore(r.Key, r.Account)
	switch {
	case revoked(&r, m.clock()):
		return k, ErrRevokedKey
	case !k.Active(m.clock()):
		return k, ErrExpiredKey
	}
	return k, nil
}
