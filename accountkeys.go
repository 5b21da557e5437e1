package keys

import (
	"context"

	"github.com/google/uuid"
)

// AccountKey returns the key with the given ID if it belongs to the
// account, revoked or not. A key of another account is ErrKeyNotFound,
// exactly like a key that does not exist, so a host building its own
// endpoints cannot forget the ownership check or reveal other accounts'
// key IDs.
func (m *Manager) AccountKey(ctx context.Context, accountID string, id uuid.UUID) (Key, error) {
	if err := m.checkOpen(); err != nil {
		return Key{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	k, err := m.store.Key(sctx, id)
	if err != nil {
		return Key{}, mapStoreErr(err, ErrKeyNotFound, "reading key")
	}
	if k.AccountID != accountID {
		return Key{}, ErrKeyNotFound
	}
	a, err := m.store.Account(sctx, accountID)
	if err != nil {
		return Key{}, mapStoreErr(err, ErrKeyNotFound, "reading the key's account")
	}
	return m.keyFromStore(k, a), nil
}

// RevokeAccountKey is Revoke for a key of the given account: a key of
// another account, or none, is ErrKeyNotFound and nothing changes.
// Revoking the active root revokes every key of the account; revoking a
// retiring key ends its grace at once.
func (m *Manager) RevokeAccountKey(ctx context.Context, accountID string, id uuid.UUID) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	sctx, cancel := m.storeCtx(ctx)
	k, err := m.store.Key(sctx, id)
	cancel()
	if err != nil {
		return mapStoreErr(err, ErrKeyNotFound, "reading key")
	}
	// A key never changes account, so the check cannot go stale before
	// the revocation.
	if k.AccountID != accountID {
		return ErrKeyNotFound
	}
	return m.Revoke(ctx, id)
}

// DeleteAccount erases the account: its keys (their tokens then answer
// ErrUnknownKey), its usage counts and the account itself, in one store
// step, and this Manager's cached keys and unflushed counts of it. The ID
// may then be used for a new account. What is kept: the account's audit
// events (its ID and key IDs only, no secrets), with account.deleted
// added, so the erasure leaves a record (see AuditEvents); and another
// process sharing the store may still write up to one FlushInterval of
// counts it admitted before the deletion, under the old ID (usage is a
// ledger, not tied to the account). It returns ErrAccountNotFound for an
// unknown account.
func (m *Manager) DeleteAccount(ctx context.Context, accountID string) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	if validAccountID(accountID) != nil {
		return ErrAccountNotFound
	}
	sctx, cancel := m.storeCtx(ctx)
	err := m.store.DeleteAccount(sctx, accountID)
	cancel()
	// As with every change: drop what is cached even on error, since the
	// change may have committed before a lost reply.
	m.cache.invalidateAccount(accountID)
	if err == nil {
		m.book.forget(accountID)
	}
	return mapStoreErr(err, ErrAccountNotFound, "deleting account")
}

// AccountPage is one page of ListAccounts.
type AccountPage struct {
	// Accounts are in ascending order of ID (byte order).
	Accounts []Account
	// Next is the cursor of the following page, "" when there is none.
	Next string
}

// Bounds of a ListAccounts page.
const (
	DefaultAccountPage = 100
	MaxAccountPage     = 1000
)

// ListAccounts returns the accounts in ascending order of ID, limit at a
// time (0 means DefaultAccountPage; at most MaxAccountPage), starting
// after cursor ("" for the first page; then the previous page's Next).
// The cursor is the last ID of the previous page, so accounts created or
// deleted between pages never make it skip or repeat one.
func (m *Manager) ListAccounts(ctx context.Context, cursor string, limit int) (AccountPage, error) {
	if err := m.checkOpen(); err != nil {
		return AccountPage{}, err
	}
	switch {
	case limit == 0:
		limit = DefaultAccountPage
	case limit < 0 || limit > MaxAccountPage:
		return AccountPage{}, invalidf("page size %d: want 1 to %d", limit, MaxAccountPage)
	}
	if cursor != "" && validAccountID(cursor) != nil {
		return AccountPage{}, invalidf("cursor is not an account ID")
	}
	sctx, cancel := m.storeCtx(ctx)
	as, err := m.store.ListAccounts(sctx, cursor, limit+1)
	cancel()
	if err != nil {
		return AccountPage{}, mapStoreErr(err, nil, "listing accounts")
	}
	var p AccountPage
	if len(as) > limit {
		as = as[:limit]
		p.Next = as[limit-1].ID
	}
	p.Accounts = make([]Account, len(as))
	for i, a := range as {
		p.Accounts[i] = accountFromStore(a)
	}
	return p, nil
}

// forget drops the account's limit state and unflushed counts, after the
// account was deleted.
func (b *book) forget(accountID string) {
	s := b.shard(accountID)
	s.mu.Lock()
	if a := s.accounts[accountID]; a != nil {
		a.mu.Lock()
		a.dropped = true
		for _, ks := range a.keys {
			ks.dropped, ks.pending = true, 0
		}
		a.pending = 0
		a.mu.Unlock()
		delete(s.accounts, accountID)
	}
	s.mu.Unlock()
	b.retryMu.Lock()
	for k := range b.retry {
		if k.account == accountID {
			delete(b.retry, k)
		}
	}
	b.retryMu.Unlock()
}
