package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/sqlitestore"
)

// TestSQLiteRestartKeepsQuotaAndLastUsed checks that what a Manager counts
// in memory (monthly usage, last-used times) reaches the SQLite file on
// Close and is picked up by the next process: a restart does not hand an
// account a fresh quota, per key or per account, and the keys' last-used
// times are kept.
func TestSQLiteRestartKeepsQuotaAndLastUsed(t *testing.T) {
	const tiny keys.Tier = "tiny"
	const quota = 5
	path := tempDB(t)
	clock := newFakeClock(epoch)
	cfg := keys.Config{
		Clock: clock.Now,
		Tiers: map[keys.Tier]keys.Limits{tiny: {RequestsPerMinute: 1000, RequestsPerMonth: quota}},
	}
	ctx := t.Context()

	// start runs one "process": a store on the file and a Manager over it.
	// stop closes both, Manager first, and fails t on any error.
	start := func() (*keys.Manager, func()) {
		t.Helper()
		st, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := keys.New(st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			if err := m.Close(); err != nil {
				t.Errorf("Manager Close: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("store Close: %v", err)
			}
		}
		t.Cleanup(stop)
		return m, stop
	}
	allow := func(m *keys.Manager, token string, wantRemaining int64) {
		t.Helper()
		k := mustAuth(t, m, token, "before Allow")
		d, err := m.Allow(ctx, k)
		if err != nil || !d.Allowed {
			t.Fatalf("Allow: %+v, %v; want admitted", d, err)
		}
		if d.Quota.Limit != quota || d.Quota.Remaining != wantRemaining {
			t.Fatalf("Allow: quota window %+v; want limit %d, %d remaining", d.Quota, quota, wantRemaining)
		}
	}
	refuse := func(m *keys.Manager, token string) {
		t.Helper()
		k := mustAuth(t, m, token, "before Allow")
		d, err := m.Allow(ctx, k)
		if !errors.Is(err, keys.ErrQuotaExceeded) || d.Allowed {
			t.Fatalf("Allow past the quota: %+v, %v; want ErrQuotaExceeded", d, err)
		}
		nextMonth := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		if !d.Reset.Equal(nextMonth) || d.RetryAfter != nextMonth.Sub(clock.Now()) {
			t.Fatalf("refusal resets at %v after %v; want %v after %v", d.Reset, d.RetryAfter, nextMonth, nextMonth.Sub(clock.Now()))
		}
	}
	lastUsed := func(m *keys.Manager, id uuid.UUID) *time.Time {
		t.Helper()
		k, err := m.Key(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}

	// First process: three requests of the first child.
	m1, stop1 := start()
	if err := m1.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: tiny, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Reissue(ctx, "acct_1"); err != nil {
		t.Fatal(err)
	}
	c1, err := m1.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := m1.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(90 * time.Second)
	for i := range 3 {
		allow(m1, c1.Secret, quota-1-int64(i))
	}
	used1 := clock.Now()
	stop1() // flushes

	// Second process, an hour later in the same month.
	clock.Add(time.Hour)
	m2, stop2 := start()
	if at := lastUsed(m2, c1.Key.ID); at == nil || !at.Equal(used1) {
		t.Fatalf("after the restart, the first child's last use is %v; want %v", at, used1)
	}
	if at := lastUsed(m2, c2.Key.ID); at != nil {
		t.Fatalf("the second child was never used, but its last use is %v", at)
	}
	// The account pool has 2 of 5 left: the second child (which has 5 of
	// its own) gets 2 and is then refused, and so is the first child (2
	// of its own left) because the pool is empty.
	allow(m2, c2.Secret, 1)
	allow(m2, c2.Secret, 0)
	refuse(m2, c2.Secret)
	refuse(m2, c1.Secret)
	used2 := clock.Now()
	stop2()

	// Third process, still in March: everything stays refused, and the
	// last-used times moved on.
	clock.Add(time.Minute)
	m3, stop3 := start()
	for _, id := range []uuid.UUID{c1.Key.ID, c2.Key.ID} {
		if at := lastUsed(m3, id); at == nil || !at.Equal(used2) {
			t.Fatalf("key %s: last use %v after the second restart; want %v", id, at, used2)
		}
	}
	refuse(m3, c1.Secret)
	// A new calendar month (UTC) starts the count over.
	clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC))
	allow(m3, c1.Secret, quota-1)
	stop3()
}
