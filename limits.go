package keys

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Window is the state of one limit after a decision.
type Window struct {
	// Limit is the number of requests the window allows.
	Limit int64
	// Remaining is how many more it allows now.
	Remaining int64
	// Reset is when the window is whole again: for the rate, when the
	// bucket refills; for the quota, the start of next month (UTC).
	Reset time.Time
}

// Decision is the outcome of Allow for one request.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit, Remaining and Reset describe the window that binds (the one
	// that refused, else the one with fewer requests left), ready for
	// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset.
	Limit, Remaining int64
	Reset            time.Time
	// RetryAfter is how long to wait before retrying; zero when Allowed.
	RetryAfter time.Duration
	// Reason is nil, ErrRateLimited or ErrQuotaExceeded.
	Reason error
	// Rate is the per-minute window that binds of two: the key's own
	// bucket and its account's pool, which all the account's keys share.
	// It is the one that refused or, when both admit, the one with fewer
	// requests left. (A custom Limiter reports only that one.) Rate is
	// zero when the quota refused before the rate was asked.
	Rate Window
	// Quota is the monthly window as this key sees it: Limit is the lower
	// of the key's quota and the pool's, Remaining the fewer requests left
	// of the two. The KeyQuota and PoolQuota methods give each apart.
	// Quota is zero when only the rate was counted (AllowRate).
	Quota Window

	// The two monthly windows behind Quota, kept as plain integers: the
	// hot path fills them, and only a caller that asks builds Windows.
	keyLimit, keyLeft, poolLimit, poolLeft int64
}

// KeyQuota is the key's own monthly quota (its override, or the pool's
// when it has none) as it stands after this decision; zero when only the
// rate was counted.
func (d Decision) KeyQuota() Window {
	return Window{Limit: d.keyLimit, Remaining: max(0, d.keyLeft), Reset: d.Quota.Reset}
}

// PoolQuota is the account's monthly pool, which all its keys share, as
// it stands after this decision; zero when only the rate was counted.
func (d Decision) PoolQuota() Window {
	return Window{Limit: d.poolLimit, Remaining: max(0, d.poolLeft), Reset: d.Quota.Reset}
}

// Allow decides one data request by k, which should be the Key that
// Authenticate returned: it counts against the key's and its account's
// per-minute rate and monthly quota, and is admitted only if all four have
// room. A refusal returns the Decision and ErrRateLimited or
// ErrQuotaExceeded; a key revoked or expired since it was authenticated
// returns ErrRevokedKey or ErrExpiredKey. A warm key is decided in memory
// without allocating.
func (m *Manager) Allow(ctx context.Context, k Key) (Decision, error) {
	return m.allow(ctx, &k, 1, true)
}

// AllowN is Allow for n requests at once (a batch endpoint, say); n must be
// between 1 and MaxAllowN (else ErrInvalidArgument). The n requests are
// admitted or refused together: n above the key's or its pool's per-minute
// rate can never be admitted and is refused with ErrRateLimited.
func (m *Manager) AllowN(ctx context.Context, k Key, n int) (Decision, error) {
	if n < 1 || n > MaxAllowN {
		return Decision{}, invalidf("AllowN of %d requests: want 1 to %d", n, MaxAllowN)
	}
	return m.allow(ctx, &k, int64(n), true)
}

// MaxAllowN is the most requests one AllowN call may count: the highest
// rate a bucket can have, since no bucket admits more at once.
const MaxAllowN = MaxRequestsPerMinute

// AllowRate counts one request against k's per-minute rate only, not its
// monthly quota: the account endpoints use it.
func (m *Manager) AllowRate(ctx context.Context, k Key) (Decision, error) {
	return m.allow(ctx, &k, 1, false)
}

// AllowAccountRate counts one request against the account's pool rate
// only, for requests that carry no key (a session of an account that has
// no root key yet). It returns ErrAccountNotFound for an unknown account.
func (m *Manager) AllowAccountRate(ctx context.Context, accountID string) (Decision, error) {
	a, err := m.openAccount(ctx, accountID)
	if err != nil {
		return Decision{}, err
	}
	pool := m.poolLimits(a)
	// A stand-in key with the nil ID: its own bucket is never shared with a
	// real key, and the pool bucket is the account's.
	k := Key{AccountID: accountID, Effective: pool, Pool: pool}
	return m.allow(ctx, &k, 1, false)
}

func (m *Manager) allow(ctx context.Context, k *Key, n int64, countQuota bool) (Decision, error) {
	if m.closed.Load() {
		return Decision{}, ErrClosed
	}
	now := m.now()
	if err := m.recheck(ctx, k, now); err != nil {
		return Decision{}, err
	}
	span := m.book.monthOf(now.wall)
	ks, err := m.book.lock(ctx, m, k, span)
	if err != nil {
		return Decision{}, err
	}
	a := ks.acct
	if m.closed.Load() {
		// Checked under the account's lock: Close marks the Manager closed
		// before its final flush, which takes this lock, so a count made
		// here is either in that flush or refused.
		a.mu.Unlock()
		return Decision{}, ErrClosed
	}
	a.lastUse, ks.lastUse = now.mono, now.mono
	var (
		q quotaCheck
		r rateCheck
	)
	if countQuota {
		if q = ks.checkQuota(k, n); !q.allowed {
			a.mu.Unlock()
			m.stats.stripe(k.ID[15]).decision(decQuotaExceeded)
			d := quotaRefusal(&q, span, now.wall)
			if m.hook != nil {
				m.observe(k, &d, now.wall)
			}
			return d, ErrQuotaExceeded
		}
	}
	if m.limiter == nil {
		var key, pool rateParams
		if k.ent != nil {
			key, pool = k.ent.keyRate, k.ent.poolRate
		} else {
			key, pool = paramsOf(k.Effective.RequestsPerMinute), paramsOf(k.Pool.RequestsPerMinute)
		}
		ks.checkRate(&r, key, pool, n, now.mono)
		if r.allowed && countQuota {
			ks.count(n)
		}
		a.mu.Unlock()
	} else {
		// A custom Limiter may go over the network: count the quota first
		// and take it back if the rate refuses, rather than hold the lock.
		if countQuota {
			ks.count(n)
		}
		a.mu.Unlock()
		if r, err = m.takeRate(ctx, k, n, time.Unix(0, now.wall)); err != nil || !r.allowed {
			if countQuota {
				m.book.refund(ks, k.ID, span.month, n)
			}
			if err != nil {
				return Decision{}, err
			}
		}
	}
	m.stats.countDecision(k.ID[15], r.allowed)
	d := decision(&q, &r, span, n, countQuota, now.wall)
	if m.hook != nil {
		m.observe(k, &d, now.wall)
	}
	return d, r.err()
}

// takeRate asks the configured Limiter.
func (m *Manager) takeRate(ctx context.Context, k *Key, n int64, now time.Time) (rateCheck, error) {
	res, err := m.limiter.Take(ctx, RateRequest{
		AccountID: k.AccountID, KeyID: k.ID,
		KeyRate: k.Effective.RequestsPerMinute, PoolRate: k.Pool.RequestsPerMinute,
		N: int(n), Now: now,
	})
	if err != nil {
		return rateCheck{}, fmt.Errorf("keys: rate limiter: %w", err)
	}
	// Express the answer as slack over a unit interval, so remaining()
	// gives back exactly what the Limiter said.
	return rateCheck{allowed: res.Allowed, slack: int64(res.Remaining), params: rateParams{rate: int64(res.Limit), interval: 1},
		resetIn: int64(res.Reset.Sub(now)), retryAfter: int64(res.RetryAfter)}, nil
}

func (r rateCheck) err() error {
	if r.allowed {
		return nil
	}
	return ErrRateLimited
}

func quotaRefusal(q *quotaCheck, span *monthSpan, now int64) Decision {
	w := Window{Limit: q.limit, Remaining: q.remaining, Reset: time.Unix(0, span.end).UTC()}
	return Decision{Limit: w.Limit, Remaining: w.Remaining, Reset: w.Reset,
		RetryAfter: time.Duration(span.end - now), Reason: ErrQuotaExceeded, Quota: w,
		keyLimit: q.keyLimit, keyLeft: q.keyLeft, poolLimit: q.poolLimit, poolLeft: q.poolLeft}
}

// decision assembles what the rate and (if counted) the quota said at wall
// time now. The headline window is the rate's unless the quota has fewer
// requests left.
func decision(q *quotaCheck, r *rateCheck, span *monthSpan, n int64, countQuota bool, now int64) (d Decision) {
	d.Allowed = r.allowed
	d.Rate = Window{Limit: r.params.rate, Remaining: r.remaining(), Reset: time.Unix(0, now+r.resetIn).UTC()}
	d.Limit, d.Remaining, d.Reset = d.Rate.Limit, d.Rate.Remaining, d.Rate.Reset
	if !r.allowed {
		d.Reason, d.RetryAfter = ErrRateLimited, time.Duration(r.retryAfter)
	}
	if countQuota {
		d.Quota = Window{Limit: q.limit, Remaining: q.remaining, Reset: time.Unix(0, span.end).UTC()}
		d.keyLimit, d.keyLeft, d.poolLimit, d.poolLeft = q.keyLimit, q.keyLeft, q.poolLimit, q.poolLeft
		if r.allowed {
			d.Quota.Remaining -= n
			d.keyLeft -= n
			d.poolLeft -= n
			if d.Quota.Remaining < d.Rate.Remaining {
				d.Limit, d.Remaining, d.Reset = d.Quota.Limit, d.Quota.Remaining, d.Quota.Reset
			}
		}
	}
	return d
}

// recheck makes sure k may still be used at now. A key from Authenticate
// carries its cache entry: if a change to its account went through this
// Manager since (a Revoke, a Reissue, a new tier), the key is resolved
// again, which refuses it or refreshes its limits. Other keys are judged
// by their own fields.
func (m *Manager) recheck(ctx context.Context, k *Key, now instant) error {
	e := k.ent
	if e != nil && !m.cache.current(e) {
		var err error
		if e, err = m.resolve(ctx, &e.hash, now); err != nil {
			return err
		}
		if e.err != nil {
			return e.err
		}
		*k = e.key
		k.ent = e
	}
	switch {
	case e != nil:
		if now.wall >= e.expiresAt {
			return e.stopped(now.wall)
		}
	case k.RevokedAt != nil && (k.final || now.wall >= unixNano(k.RevokedAt)):
		return ErrRevokedKey
	case now.wall >= unixNano(k.ExpiresAt):
		return ErrExpiredKey
	}
	return nil
}

// readUsage reads a key's stored counts for the book.
func (m *Manager) readUsage(ctx context.Context, accountID string, keyID uuid.UUID, month store.Month) (store.UsageTotal, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	t, err := m.store.Usage(sctx, accountID, keyID, month)
	return t, mapStoreErr(err, nil, "reading usage")
}

// sweep drops in-memory limit state that has been idle for a flush
// interval, and cache entries past their TTL, so memory follows the active
// keys, not every key ever seen.
func (m *Manager) sweep() {
	now := m.now().mono
	m.book.sweep(now-int64(m.cfg.FlushInterval), now)
	m.cache.sweep(now)
	if m.guard != nil {
		m.guard.neg.sweep(now)
	}
}
