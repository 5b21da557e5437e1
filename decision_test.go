package keys_test

import (
	"testing"

	"github.com/keyward/keys"
)

// Decision.Quota is the window that binds; KeyQuota and PoolQuota show
// the key's own quota and the account's pool apart.
func TestDecisionKeyAndPoolQuota(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: tiny}) // 10/min, 20/month
	f.account(t, "acct_1", "tiny")
	root := f.auth(t, f.reissue(t, "acct_1").Secret)
	c := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{RequestsPerMonth: ptr(int64(5))}).Secret)
	d := mustAllow(t, f, c)
	want := func(name string, w keys.Window, limit, remaining int64) {
		t.Helper()
		if w.Limit != limit || w.Remaining != remaining {
			t.Errorf("%s = %d of %d, want %d of %d", name, w.Remaining, w.Limit, remaining, limit)
		}
	}
	want("KeyQuota", d.KeyQuota(), 5, 4)
	want("PoolQuota", d.PoolQuota(), 20, 19)
	want("Quota", d.Quota, 5, 4)
	for range 9 { // the pool's rate (10/min) has 9 left
		mustAllow(t, f, root)
	}
	f.clock.Add(2 * 60e9) // refill the rate
	for range 8 {
		mustAllow(t, f, root)
	}
	// The pool has 2 left, the child's own quota 4: the pool binds.
	d = mustAllow(t, f, c)
	want("KeyQuota", d.KeyQuota(), 5, 3)
	want("PoolQuota", d.PoolQuota(), 20, 1)
	want("Quota", d.Quota, 5, 1)
	mustAllow(t, f, c)
	d = wantRefused(t, f, c, keys.ErrQuotaExceeded)
	want("KeyQuota", d.KeyQuota(), 5, 2)
	want("PoolQuota", d.PoolQuota(), 20, 0)
	if d.PoolQuota().Reset != d.Quota.Reset || d.KeyQuota().Reset.IsZero() {
		t.Errorf("resets: %v %v %v", d.Quota.Reset, d.KeyQuota().Reset, d.PoolQuota().Reset)
	}
	// AllowRate counts no quota: all three are zero.
	f.clock.Add(2 * 60e9)
	d, err := f.m.AllowRate(ctx(), root)
	if err != nil || d.Quota != (keys.Window{}) || d.KeyQuota() != (keys.Window{}) || d.PoolQuota() != (keys.Window{}) {
		t.Errorf("AllowRate: %+v, %v", d, err)
	}
}
