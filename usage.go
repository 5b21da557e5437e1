package keys

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Usage is what an account and its keys have counted against their
// monthly quotas in one calendar month (UTC).
type Usage struct {
	// Month is the first instant of the month, UTC.
	Month time.Time
	// ResetsAt is the first instant of the next month, when the quotas are
	// whole again.
	ResetsAt time.Time
	// Account is the account's pool: every key's requests together,
	// against the account's tier quota.
	Account UsageCount
	// Keys holds every key of the account that is active now or has
	// requests in the month, oldest first.
	Keys []KeyUsage
}

// UsageCount is one count against one quota.
type UsageCount struct {
	// Requests is the number of requests admitted in the month.
	Requests int64
	// Quota is the monthly quota: the key's effective quota, or the
	// account's pool.
	Quota int64
	// Remaining is how many more requests the quota admits this month,
	// never below zero. A key's is also bounded by what is left of the
	// pool, as Allow decides.
	Remaining int64
}

// KeyUsage is one key's entry in a Usage.
type KeyUsage struct {
	// Key is the key, as ListKeys returns it.
	Key Key
	// UsageCount is its count against its effective quota.
	UsageCount
}

// Usage reports the account's and each of its keys' request counts for
// the calendar month (UTC) that contains month; a zero month means the
// current one. The counts include what this Manager has admitted and not
// yet flushed, so in one process they are exact: N admitted requests are
// N counted, before and after a flush. Requests other processes sharing
// the store admitted reach it at their next flush.
//
// Quotas are today's limits, for a past month too. The store is read a
// fixed number of times (the account, its keys, and their counts), however
// many keys the account has. It returns ErrAccountNotFound for an unknown
// account.
func (m *Manager) Usage(ctx context.Context, accountID string, month time.Time) (Usage, error) {
	if err := m.checkOpen(); err != nil {
		return Usage{}, err
	}
	now := m.clock()
	if month.IsZero() {
		month = now
	}
	mo := store.MonthOf(month)
	a, err := m.account(ctx, accountID)
	if err != nil {
		return Usage{}, err
	}
	sctx, cancel := m.storeCtx(ctx)
	stored, err := m.store.ListKeys(sctx, accountID)
	cancel()
	if err != nil {
		return Usage{}, mapStoreErr(err, nil, "listing keys")
	}
	counts, err := m.usageCounts(ctx, accountID, mo)
	if err != nil {
		return Usage{}, err
	}
	pool := m.poolLimits(a)
	u := Usage{Month: mo.Start(), ResetsAt: mo.Next().Start()}
	u.Account = UsageCount{Requests: counts.Account, Quota: pool.RequestsPerMonth,
		Remaining: max(0, pool.RequestsPerMonth-counts.Account)}
	u.Keys = make([]KeyUsage, 0, len(stored))
	for _, sk := range stored {
		n := counts.Keys[sk.ID]
		k := m.keyFromStore(sk, a)
		if n == 0 && !k.Active(now) {
			continue
		}
		q := k.Effective.RequestsPerMonth
		u.Keys = append(u.Keys, KeyUsage{Key: k, UsageCount: UsageCount{
			Requests: n, Quota: q, Remaining: max(0, min(q-n, u.Account.Remaining)),
		}})
	}
	return u, nil
}

// usageCounts returns the stored counts of the account for mo plus what
// this Manager has admitted and not yet written. flushMu keeps a flush of
// this Manager from moving counts between memory and the store while they
// are read, so that nothing is missed or counted twice.
func (m *Manager) usageCounts(ctx context.Context, accountID string, mo store.Month) (store.AccountUsage, error) {
	m.flushMu.RLock()
	defer m.flushMu.RUnlock()
	sctx, cancel := m.storeCtx(ctx)
	u, err := m.store.AccountUsage(sctx, accountID, mo)
	cancel()
	if err != nil {
		return store.AccountUsage{}, mapStoreErr(err, nil, "reading usage")
	}
	if u.Keys == nil {
		u.Keys = make(map[uuid.UUID]int64)
	}
	u.Account += m.book.unflushed(accountID, mo, u.Keys)
	// A batch whose flush failed may or may not have been written (a reply
	// lost after the commit): it is counted here until its retry settles
	// it, so usage shown is never less than what was admitted, and can be
	// more by that batch for that long.
	for _, d := range m.book.flushes.unsureDeltas() {
		if d.AccountID == accountID && d.Month == mo {
			u.Keys[d.KeyID] += d.N
			u.Account += d.N
		}
	}
	return u, nil
}

// unflushed adds to keys the counts of the account's keys for mo that are
// not in the store yet (pending since the last flush, or waiting for a
// retry), and returns their sum. The account's lock is held across both,
// as roll and refund hold it while they move counts into the retry map.
func (b *book) unflushed(accountID string, mo store.Month, keys map[uuid.UUID]int64) int64 {
	var sum int64
	s := b.shard(accountID)
	s.mu.Lock()
	a := s.accounts[accountID]
	s.mu.Unlock()
	if a != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.dropped && a.month == mo {
			for id, ks := range a.keys {
				if ks.pending != 0 {
					keys[id] += ks.pending
					sum += ks.pending
				}
			}
		}
	}
	b.retryMu.Lock()
	defer b.retryMu.Unlock()
	for k, n := range b.retry {
		if k.account == accountID && k.month == mo && n != 0 {
			keys[k.key] += n
			sum += n
		}
	}
	return sum
}
