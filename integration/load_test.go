package integration

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// TestSQLiteManagersUnderLoad runs two Managers, each on its own
// sqlitestore.Open of one file (as two processes would), under a mixed
// load; see runManagersUnderLoad for what is checked.
func TestSQLiteManagersUnderLoad(t *testing.T) {
	path := tempDB(t)
	runManagersUnderLoad(t, func(t *testing.T, name string) (store.Store, func() error) {
		s, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatalf("sqlitestore.Open (%s): %v", name, err)
		}
		return s, s.Close
	})
}

// TestPostgresManagersUnderLoad is the same against PostgreSQL: two
// pgstore.Open pools on one fresh schema, each Manager also following the
// other's changes through LISTEN/NOTIFY.
func TestPostgresManagersUnderLoad(t *testing.T) {
	_, dsn := pgFreshSchema(t)
	runManagersUnderLoad(t, func(t *testing.T, name string) (store.Store, func() error) {
		s, err := pgstore.Open(t.Context(), withParam(t, dsn, "application_name", "keys_it_load_"+name))
		if err != nil {
			t.Fatalf("pgstore.Open (%s): %v", name, err)
		}
		return s, s.Close
	})
}

// loadTime is how long the load runs; -short shortens it.
func loadTime() time.Duration {
	if testing.Short() {
		return time.Second
	}
	return 5 * time.Second
}

// loadConfig configures the Managers under load: a short cache TTL and
// flush interval so that cache misses and background flushes happen all
// through the run, and a pool rate high enough that most requests are
// admitted (children with a rate override get refused instead).
func loadConfig() keys.Config {
	return keys.Config{
		Tiers:         map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMinute: 60_000, RequestsPerMonth: 1_000_000_000}},
		CacheTTL:      250 * time.Millisecond,
		FlushInterval: 50 * time.Millisecond,
	}
}

const (
	loadWorkers = 8
	// expiryTolerance absorbs the difference between the test's wall clock
	// readings and the Manager's default clock (time.Now re-anchored every
	// FlushInterval plus monotonic time).
	expiryTolerance = 5 * time.Millisecond
	// childQuota is the monthly quota override given to some children.
	childQuota = 5
)

// opener opens one more Store on the database under test and returns it
// with the function that closes it. Each call is a separate pool, as a
// separate process would have.
type opener func(t *testing.T, name string) (store.Store, func() error)

// issuedKey is a key whose issue call returned, with its token.
type issuedKey struct {
	key    keys.Key
	secret string
	// issuedAt is read (on the test's monotonic clock, since loadRun.t0)
	// after the issue call returned: the key was committed before it.
	issuedAt time.Duration
}

// revokeEvent records a Revoke that returned: the key is dead after ret.
type revokeEvent struct {
	mgr int
	id  uuid.UUID
	ret time.Duration
}

// reissueEvent records a Reissue that returned. Every root key of the
// account whose issue call returned before start was revoked by it (its
// commit came after start), and with it every child of that root.
type reissueEvent struct {
	mgr        int
	account    string
	start, ret time.Duration
	newRoot    uuid.UUID
}

// workerLog is what one worker observed. Workers keep their own and they
// are merged after the run, so the bookkeeping adds no lock to the hot path.
type workerLog struct {
	revokes  []revokeEvent
	reissues []reissueEvent
	// authOK and allowPassed hold, per Manager and key, the latest start of
	// a successful Authenticate, and of an Allow that got past its
	// liveness recheck (admitted, or refused only by rate or quota).
	// Whether a call started after a key died is monotone in its start, so
	// the latest start is the only one that needs checking.
	authOK      [2]map[uuid.UUID]time.Duration
	allowPassed [2]map[uuid.UUID]time.Duration
	// refused are keys that got ErrRevokedKey, with the call that said so.
	refused map[uuid.UUID]string
	// used are keys that authenticated at least once (anywhere).
	used map[uuid.UUID]bool
	// admitted counts the requests Allow admitted, per account and key.
	admittedAccount map[string]int64
	admittedKey     map[uuid.UUID]int64
	outcomes        map[string]int
}

func newWorkerLog() *workerLog {
	w := &workerLog{
		refused:         map[uuid.UUID]string{},
		used:            map[uuid.UUID]bool{},
		admittedAccount: map[string]int64{},
		admittedKey:     map[uuid.UUID]int64{},
		outcomes:        map[string]int{},
	}
	for i := range w.authOK {
		w.authOK[i] = map[uuid.UUID]time.Duration{}
		w.allowPassed[i] = map[uuid.UUID]time.Duration{}
	}
	return w
}

func setLatest(m map[uuid.UUID]time.Duration, id uuid.UUID, at time.Duration) {
	if old, ok := m[id]; !ok || at > old {
		m[id] = at
	}
}

// loadRun is the shared state of one load test.
type loadRun struct {
	t0       time.Time
	mgrs     [2]*keys.Manager
	accounts []string

	mu        sync.Mutex
	keys      map[uuid.UUID]*issuedKey
	byAccount map[string][]*issuedKey
}

func (r *loadRun) since() time.Duration { return time.Since(r.t0) }

// add records a key whose issue call has just returned.
func (r *loadRun) add(iss keys.Issued) *issuedKey {
	k := &issuedKey{key: iss.Key, secret: iss.Secret, issuedAt: r.since()}
	r.mu.Lock()
	r.keys[k.key.ID] = k
	r.byAccount[k.key.AccountID] = append(r.byAccount[k.key.AccountID], k)
	r.mu.Unlock()
	return k
}

// pickRecent returns one of the account's latest keys, which are mostly
// alive, so that the load is mostly real traffic rather than refusals.
func (r *loadRun) pickRecent(rng *mrand.Rand, account string) *issuedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.byAccount[account]
	n := min(len(ks), 8)
	return ks[len(ks)-1-rng.IntN(n)]
}

// pickRecentChild returns one of the account's latest child keys, or nil
// if it has none.
func (r *loadRun) pickRecentChild(rng *mrand.Rand, account string) *issuedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var children []*issuedKey
	ks := r.byAccount[account]
	for i := len(ks) - 1; i >= 0 && len(children) < 8; i-- {
		if !ks[i].key.IsRoot {
			children = append(children, ks[i])
		}
	}
	if len(children) == 0 {
		return nil
	}
	return children[rng.IntN(len(children))]
}

// pickAny returns any key issued so far, of any account, most of them dead.
func (r *loadRun) pickAny(rng *mrand.Rand) *issuedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.byAccount[r.accounts[rng.IntN(len(r.accounts))]]
	return ks[rng.IntN(len(ks))]
}

// latestRoot returns the account's most recently issued root key.
func (r *loadRun) latestRoot(account string) *issuedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.byAccount[account]
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].key.IsRoot {
			return ks[i]
		}
	}
	return ks[0]
}

// runManagersUnderLoad runs two Managers, each on its own Store from open,
// for loadTime(): 8 goroutines, each call on a Manager picked at random,
// mixing Authenticate (and Allow on success), IssueChild, Reissue, Revoke
// and Flush over three accounts. Then it closes both Managers and both
// Stores, opens the database afresh, and checks:
//
//   - no call failed except in the ways a race allows (ErrRevokedKey,
//     ErrExpiredKey, ErrNoActiveRootKey, ErrRateLimited, and
//     ErrQuotaExceeded for a child with a quota override); a store error
//     such as SQLITE_BUSY fails the test;
//   - every account has at most one active root key, and every active
//     child's root is the account's active root;
//   - every key whose Reissue or IssueChild returned is stored, as issued,
//     and nothing else is;
//   - a key revoked through Revoke, or by a Reissue, never authenticated
//     (nor passed Allow's recheck) through the same Manager in a call that
//     started after the revoking call returned; a key known dead this way
//     through either Manager is revoked in the store;
//   - a key refused as revoked is revoked in the store; an expired key is
//     never admitted, and ErrExpiredKey comes only for a key past its expiry;
//   - every key that authenticated has a last-used time, and the stored
//     usage counts equal the requests Allow admitted, per key and account;
//   - a fresh Manager's Authenticate agrees with the stored state of every
//     key.
func runManagersUnderLoad(t *testing.T, open opener) {
	ctx := t.Context()
	r := &loadRun{
		t0:        time.Now(),
		accounts:  []string{"acct_0", "acct_1", "acct_2"},
		keys:      map[uuid.UUID]*issuedKey{},
		byAccount: map[string][]*issuedKey{},
	}
	var closeMgr, closeStore [2]func() error
	for i := range r.mgrs {
		st, closeSt := open(t, fmt.Sprintf("m%d", i))
		closeStore[i] = sync.OnceValue(closeSt)
		t.Cleanup(func() { _ = closeStore[i]() }) // if the test stops early
		m, err := keys.New(st, loadConfig())
		if err != nil {
			t.Fatalf("keys.New: %v", err)
		}
		r.mgrs[i] = m
		closeMgr[i] = sync.OnceValue(m.Close)
		t.Cleanup(func() { _ = closeMgr[i]() }) // runs before the store's
	}
	for _, a := range r.accounts {
		if err := r.mgrs[0].CreateAccount(ctx, keys.Account{ID: a, Tier: keys.Pro, EmailVerified: true}); err != nil {
			t.Fatalf("CreateAccount(%s): %v", a, err)
		}
		iss, err := r.mgrs[0].Reissue(ctx, a)
		if err != nil {
			t.Fatalf("Reissue(%s): %v", a, err)
		}
		r.add(iss)
	}

	d := loadTime()
	deadline := r.t0.Add(d)
	logs := make([]*workerLog, loadWorkers)
	var wg sync.WaitGroup
	for wi := range loadWorkers {
		w := newWorkerLog()
		logs[wi] = w
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(wi), uint64(r.t0.UnixNano())))
			for time.Now().Before(deadline) && !t.Failed() {
				if err := r.step(ctx, wi, w, rng); err != nil {
					t.Errorf("worker %d: %v", wi, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range r.mgrs {
		if err := closeMgr[i](); err != nil {
			t.Errorf("Manager %d Close: %v", i, err)
		}
	}
	for i := range r.mgrs {
		if err := closeStore[i](); err != nil {
			t.Errorf("store %d Close: %v", i, err)
		}
	}
	all := mergeLogs(logs)
	t.Logf("%d keys issued; outcomes in %v: %s", len(r.keys), d, formatOutcomes(all.outcomes))
	if t.Failed() {
		return
	}

	st, closeSt := open(t, "verify")
	defer func() {
		if err := closeSt(); err != nil {
			t.Errorf("verify store Close: %v", err)
		}
	}()
	r.verify(t, st, all)
}

// step does one random operation through a random Manager and returns an
// error only for an outcome that no interleaving allows.
func (r *loadRun) step(ctx context.Context, wi int, w *workerLog, rng *mrand.Rand) error {
	mi := rng.IntN(len(r.mgrs))
	m := r.mgrs[mi]
	account := r.accounts[rng.IntN(len(r.accounts))]
	// Per mille. Writes cost milliseconds (and SQLite serialises them
	// across both processes) where a warm Authenticate costs microseconds,
	// so reads come in bursts to keep them the bulk of the traffic.
	switch n := rng.IntN(1000); {
	case n < 600:
		for range 1 + rng.IntN(8) {
			if err := r.authenticate(ctx, mi, w, rng, r.pickRecent(rng, account)); err != nil {
				return err
			}
		}
	case n < 650:
		return r.authenticate(ctx, mi, w, rng, r.pickAny(rng))
	case n < 820:
		opts := keys.ChildOptions{Name: fmt.Sprintf("worker %d", wi)}
		if rng.IntN(4) == 0 {
			exp := time.Now().Add(100*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))))
			opts.ExpiresAt = &exp
		}
		if rng.IntN(5) == 0 {
			rate := 3
			opts.RequestsPerMinute = &rate
		}
		if rng.IntN(5) == 0 {
			q := int64(childQuota)
			opts.RequestsPerMonth = &q
		}
		iss, err := m.IssueChild(ctx, account, opts)
		switch {
		case errors.Is(err, keys.ErrNoActiveRootKey): // its root was just revoked
			w.outcomes["IssueChild: no active root"]++
			return nil
		case errors.Is(err, keys.ErrInvalidArgument) && opts.ExpiresAt != nil && !time.Now().Add(expiryTolerance).Before(*opts.ExpiresAt):
			// A loaded machine (CI runs every package at once) spent the
			// expiry's lead before the Manager read its clock; refusing
			// an expiry already past is the contract.
			w.outcomes["IssueChild: expiry passed"]++
			return nil
		case err != nil:
			return fmt.Errorf("IssueChild(%s) on manager %d: %w", account, mi, err)
		}
		k := iss.Key
		if k.IsRoot || k.AccountID != account || k.Prefix != "sk_live_child" || k.RootKeyID == k.ID ||
			!strings.HasPrefix(iss.Secret, "sk_live_") || k.Name != opts.Name {
			return fmt.Errorf("IssueChild(%s) returned %+v", account, k)
		}
		r.add(iss)
		w.outcomes["IssueChild: ok"]++
	case n < 835:
		start := r.since()
		iss, err := m.Reissue(ctx, account)
		ret := r.since()
		if err != nil {
			return fmt.Errorf("Reissue(%s) on manager %d: %w", account, mi, err)
		}
		k := iss.Key
		if !k.IsRoot || k.AccountID != account || k.RootKeyID != k.ID || k.Prefix != "sk_live_root" {
			return fmt.Errorf("Reissue(%s) returned %+v", account, k)
		}
		r.add(iss)
		w.reissues = append(w.reissues, reissueEvent{mgr: mi, account: account, start: start, ret: ret, newRoot: k.ID})
		w.outcomes["Reissue: ok"]++
	case n < 885:
		// Mostly children: a revoked root leaves the account without one
		// until the next Reissue.
		k := r.pickRecentChild(rng, account)
		if k == nil || rng.IntN(10) == 0 {
			k = r.latestRoot(account)
		}
		if err := m.Revoke(ctx, k.key.ID); err != nil {
			return fmt.Errorf("Revoke(%s) on manager %d: %w", k.key.ID, mi, err)
		}
		w.revokes = append(w.revokes, revokeEvent{mgr: mi, id: k.key.ID, ret: r.since()})
		w.outcomes["Revoke: ok"]++
		// The same Manager must refuse it from now on; the check is the
		// bookkeeping's, after the run.
		return r.authenticate(ctx, mi, w, rng, k)
	case n < 910:
		if err := m.Flush(ctx); err != nil {
			return fmt.Errorf("Flush on manager %d: %w", mi, err)
		}
		w.outcomes["Flush: ok"]++
	default:
		// A key of another Manager's making, or one the other Manager has
		// just cached: the same call through the other Manager.
		k := r.pickRecent(rng, account)
		if err := r.authenticate(ctx, mi, w, rng, k); err != nil {
			return err
		}
		return r.authenticate(ctx, 1-mi, w, rng, k)
	}
	return nil
}

// authenticate presents k's token to Manager mi, and on success usually
// makes a data request with Allow.
func (r *loadRun) authenticate(ctx context.Context, mi int, w *workerLog, rng *mrand.Rand, k *issuedKey) error {
	m := r.mgrs[mi]
	id := k.key.ID
	startWall := time.Now()
	start := startWall.Sub(r.t0)
	got, err := m.Authenticate(ctx, k.secret)
	switch {
	case err == nil:
		if got.ID != id || got.AccountID != k.key.AccountID || got.IsRoot != k.key.IsRoot || got.RootKeyID != k.key.RootKeyID {
			return fmt.Errorf("Authenticate of key %s returned key %s of %s", id, got.ID, got.AccountID)
		}
		if exp := k.key.ExpiresAt; exp != nil && startWall.After(exp.Add(expiryTolerance)) {
			return fmt.Errorf("key %s authenticated on manager %d at %s, after its expiry %s",
				id, mi, startWall.UTC().Format(time.RFC3339Nano), exp.Format(time.RFC3339Nano))
		}
		setLatest(w.authOK[mi], id, start)
		w.used[id] = true
		w.outcomes["Authenticate: ok"]++
	case errors.Is(err, keys.ErrRevokedKey):
		w.refused[id] = "Authenticate"
		w.outcomes["Authenticate: revoked"]++
		return nil
	case errors.Is(err, keys.ErrExpiredKey):
		w.outcomes["Authenticate: expired"]++
		return checkExpired(k, mi, "Authenticate")
	default:
		return fmt.Errorf("Authenticate of key %s on manager %d: %w", id, mi, err)
	}
	if rng.IntN(10) >= 7 {
		return nil
	}
	allowStart := r.since()
	dec, err := m.Allow(ctx, got)
	switch {
	case err == nil:
		if !dec.Allowed {
			return fmt.Errorf("Allow of key %s: no error but not allowed: %+v", id, dec)
		}
		setLatest(w.allowPassed[mi], id, allowStart)
		w.admittedAccount[k.key.AccountID]++
		w.admittedKey[id]++
		w.outcomes["Allow: admitted"]++
	case errors.Is(err, keys.ErrRateLimited):
		if dec.Allowed || dec.RetryAfter <= 0 {
			return fmt.Errorf("Allow of key %s: rate limited with %+v", id, dec)
		}
		setLatest(w.allowPassed[mi], id, allowStart)
		w.outcomes["Allow: rate limited"]++
	case errors.Is(err, keys.ErrQuotaExceeded):
		if k.key.RequestsPerMonthOverride == nil {
			return fmt.Errorf("Allow of key %s without a quota override: %w (decision %+v)", id, err, dec)
		}
		setLatest(w.allowPassed[mi], id, allowStart)
		w.outcomes["Allow: quota exceeded"]++
	case errors.Is(err, keys.ErrRevokedKey):
		w.refused[id] = "Allow"
		w.outcomes["Allow: revoked"]++
	case errors.Is(err, keys.ErrExpiredKey):
		w.outcomes["Allow: expired"]++
		return checkExpired(k, mi, "Allow")
	default:
		return fmt.Errorf("Allow of key %s on manager %d: %w", id, mi, err)
	}
	return nil
}

// checkExpired checks, just after a call said ErrExpiredKey, that k has
// an expiry and that it has passed.
func checkExpired(k *issuedKey, mi int, call string) error {
	now := time.Now()
	if exp := k.key.ExpiresAt; exp == nil || now.Add(expiryTolerance).Before(*exp) {
		return fmt.Errorf("%s on manager %d: key %s (expiry %v) refused as expired at %s",
			call, mi, k.key.ID, exp, now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func mergeLogs(logs []*workerLog) *workerLog {
	all := newWorkerLog()
	for _, w := range logs {
		all.revokes = append(all.revokes, w.revokes...)
		all.reissues = append(all.reissues, w.reissues...)
		for i := range w.authOK {
			for id, at := range w.authOK[i] {
				setLatest(all.authOK[i], id, at)
			}
			for id, at := range w.allowPassed[i] {
				setLatest(all.allowPassed[i], id, at)
			}
		}
		for id, how := range w.refused {
			all.refused[id] = how
		}
		for id := range w.used {
			all.used[id] = true
		}
		for a, n := range w.admittedAccount {
			all.admittedAccount[a] += n
		}
		for id, n := range w.admittedKey {
			all.admittedKey[id] += n
		}
		for o, n := range w.outcomes {
			all.outcomes[o] += n
		}
	}
	return all
}

func formatOutcomes(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", n, m[n])
	}
	return b.String()
}

// never is a death time for a key that is not known to be dead.
const never = time.Duration(1<<63 - 1)

// deaths answers, from the merged log, when a key became known to be dead
// through a given Manager.
type deaths struct {
	r *loadRun
	// revokedAt[mgr][id] is the earliest return of a Revoke of id through
	// mgr; index 2 is through either.
	revokedAt [3]map[uuid.UUID]time.Duration
	reissues  map[string][]reissueEvent
}

func newDeaths(r *loadRun, all *workerLog) *deaths {
	d := &deaths{r: r, reissues: map[string][]reissueEvent{}}
	for i := range d.revokedAt {
		d.revokedAt[i] = map[uuid.UUID]time.Duration{}
	}
	for _, e := range all.revokes {
		for _, i := range []int{e.mgr, 2} {
			if old, ok := d.revokedAt[i][e.id]; !ok || e.ret < old {
				d.revokedAt[i][e.id] = e.ret
			}
		}
	}
	for _, e := range all.reissues {
		d.reissues[e.account] = append(d.reissues[e.account], e)
	}
	return d
}

// at returns the earliest time (since t0) at which a call through Manager
// mgr (2: either) had returned that certainly killed k, and what it was.
// A child dies with its root.
func (d *deaths) at(k *issuedKey, mgr int) (time.Duration, string) {
	when, why := never, ""
	consider := func(t time.Duration, what string) {
		if t < when {
			when, why = t, what
		}
	}
	if t, ok := d.revokedAt[mgr][k.key.ID]; ok {
		consider(t, "Revoke of the key")
	}
	root := d.r.keys[k.key.RootKeyID]
	if !k.key.IsRoot {
		if t, ok := d.revokedAt[mgr][k.key.RootKeyID]; ok {
			consider(t, "Revoke of its root "+k.key.RootKeyID.String())
		}
	}
	for _, e := range d.reissues[k.key.AccountID] {
		if (mgr == 2 || e.mgr == mgr) && root != nil && e.start > root.issuedAt && e.newRoot != root.key.ID {
			consider(e.ret, fmt.Sprintf("Reissue of %s (started %v, after its root was issued at %v)",
				k.key.AccountID, e.start, root.issuedAt))
		}
	}
	return when, why
}

// verify checks the stored outcome of the run through a fresh Manager on a
// fresh Store.
func (r *loadRun) verify(t *testing.T, st store.Store, all *workerLog) {
	ctx := t.Context()
	v, err := keys.New(st, keys.Config{Tiers: loadConfig().Tiers, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d := newDeaths(r, all)

	// No Manager let a key through after a call through it killed the key.
	violations := 0
	for mi := range r.mgrs {
		for kind, seen := range map[string]map[uuid.UUID]time.Duration{
			"authenticated": all.authOK[mi], "passed Allow's recheck": all.allowPassed[mi]} {
			for id, last := range seen {
				k := r.keys[id]
				if died, why := d.at(k, mi); last > died {
					violations++
					if violations <= 10 {
						t.Errorf("key %s (root %v) %s on manager %d in a call started at %v, after %s through the same manager returned at %v",
							id, k.key.IsRoot, kind, mi, last, why, died)
					}
				}
			}
		}
	}
	if violations > 10 {
		t.Errorf("... %d such violations in all", violations)
	}

	stored := map[uuid.UUID]keys.Key{}
	for _, a := range r.accounts {
		ks, err := v.ListKeys(ctx, a)
		if err != nil {
			t.Fatalf("ListKeys(%s): %v", a, err)
		}
		activeRoots := map[uuid.UUID]bool{}
		for _, k := range ks {
			stored[k.ID] = k
			if k.IsRoot && k.RevokedAt == nil {
				activeRoots[k.ID] = true
			}
		}
		if len(activeRoots) > 1 {
			t.Errorf("account %s has %d active root keys", a, len(activeRoots))
		}
		root, err := v.RootKey(ctx, a)
		switch {
		case len(activeRoots) == 0 && !errors.Is(err, keys.ErrNoActiveRootKey):
			t.Errorf("account %s has no active root but RootKey = %v, %v", a, root.ID, err)
		case len(activeRoots) == 1 && (err != nil || !activeRoots[root.ID]):
			t.Errorf("account %s: RootKey = %v, %v; want its active root", a, root.ID, err)
		}
		for _, k := range ks {
			if !k.IsRoot && k.RevokedAt == nil && !activeRoots[k.RootKeyID] {
				t.Errorf("account %s: active child %s of root %s, which is not the active root", a, k.ID, k.RootKeyID)
			}
		}
		if n := len(r.byAccount[a]); len(ks) != n {
			t.Errorf("account %s: %d keys stored, %d issue calls returned", a, len(ks), n)
		}
	}

	now := time.Now()
	var live, dead, expired, edge int
	for id, k := range r.keys {
		s, ok := stored[id]
		if !ok {
			t.Errorf("key %s (root %v) of %s was issued but is not stored", id, k.key.IsRoot, k.key.AccountID)
			continue
		}
		if s.AccountID != k.key.AccountID || s.IsRoot != k.key.IsRoot || s.RootKeyID != k.key.RootKeyID ||
			s.Prefix != k.key.Prefix || s.Name != k.key.Name || !sameTime(s.ExpiresAt, k.key.ExpiresAt) ||
			!sameInt64(s.RequestsPerMonthOverride, k.key.RequestsPerMonthOverride) ||
			!sameInt(s.RequestsPerMinuteOverride, k.key.RequestsPerMinuteOverride) {
			t.Errorf("key %s stored as %+v, issued as %+v", id, s, k.key)
		}
		if died, why := d.at(k, 2); died != never && s.RevokedAt == nil {
			t.Errorf("key %s is not revoked in the store, though %s returned at %v", id, why, died)
		}
		if how, ok := all.refused[id]; ok && s.RevokedAt == nil {
			t.Errorf("key %s was refused as revoked by %s but is not revoked in the store", id, how)
		}
		if all.used[id] && (s.LastUsedAt == nil || s.LastUsedAt.Before(s.CreatedAt.Truncate(time.Second))) {
			t.Errorf("key %s authenticated but its last-used time is %v (created %v)", id, s.LastUsedAt, s.CreatedAt)
		}

		// A fresh Manager (no cache) agrees with the stored state. The
		// clock is read around each call, not once for the loop: these
		// calls are serial store reads, and on a loaded machine a key
		// that was live when the loop began can expire before its turn.
		before := time.Now()
		_, err := v.Authenticate(ctx, k.secret)
		after := time.Now()
		switch {
		case s.RevokedAt != nil:
			dead++
			if !errors.Is(err, keys.ErrRevokedKey) {
				t.Errorf("revoked key %s: fresh Authenticate = %v, want ErrRevokedKey", id, err)
			}
		case s.ExpiresAt != nil && !s.ExpiresAt.After(before.Add(-expiryTolerance)):
			expired++
			if !errors.Is(err, keys.ErrExpiredKey) {
				t.Errorf("expired key %s: fresh Authenticate = %v, want ErrExpiredKey", id, err)
			}
		case s.ExpiresAt != nil && !s.ExpiresAt.After(after.Add(expiryTolerance)):
			// It expired during the call, or too close to it to call.
			edge++
		default:
			live++
			if err != nil {
				t.Errorf("active key %s: fresh Authenticate = %v", id, err)
			}
		}
	}
	t.Logf("at the end: %d keys revoked, %d expired, %d active, %d expiring as they were checked; %d Revoke and %d Reissue calls",
		dead, expired, live, edge, len(all.revokes), len(all.reissues))

	// Every admitted request reached the store, per key and per account.
	month := store.MonthOf(r.t0)
	if store.MonthOf(now) != month {
		t.Logf("the run crossed a month boundary; usage counts not checked")
		return
	}
	var total int64
	for _, a := range r.accounts {
		u, err := st.Usage(ctx, a, uuid.Nil, month)
		if err != nil {
			t.Fatalf("Usage(%s): %v", a, err)
		}
		if u.Account != all.admittedAccount[a] {
			t.Errorf("account %s: stored usage %d, admitted %d", a, u.Account, all.admittedAccount[a])
		}
		total += u.Account
	}
	for id, n := range all.admittedKey {
		u, err := st.Usage(ctx, r.keys[id].key.AccountID, id, month)
		if err != nil {
			t.Fatalf("Usage(%s): %v", id, err)
		}
		if u.Key != n {
			t.Errorf("key %s: stored usage %d, admitted %d", id, u.Key, n)
		}
	}
	t.Logf("%d requests admitted and counted", total)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Sub(*b).Abs() < time.Microsecond
}

func sameInt64(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
