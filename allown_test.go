package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// With a rate of 1 a minute a request costs a minute of bucket, and
// 307445735 minutes in nanoseconds wrap an int64 around to a cost that
// fits: the bucket admitted the batch, twice.
func TestAllowNHugeBatchIsRefused(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{"slow": {RequestsPerMinute: 1, RequestsPerMonth: 1 << 40}}})
	f.account(t, "acct_1", "slow")
	k := f.auth(t, f.reissue(t, "acct_1").Secret)
	for i := range 2 {
		d, err := f.m.AllowN(ctx(), k, 307445735)
		if !errors.Is(err, keys.ErrRateLimited) || d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("AllowN(307445735) #%d on a 1/min key: %+v, %v; want refused", i+1, d, err)
		}
	}
	// Nothing was counted: the bucket is still full.
	if d, err := f.m.AllowN(ctx(), k, 1); err != nil || !d.Allowed {
		t.Fatalf("AllowN(1) after the refusals: %+v, %v", d, err)
	}
	for _, n := range []int{0, -1, keys.MaxAllowN + 1, int(^uint(0) >> 1)} {
		if _, err := f.m.AllowN(ctx(), k, n); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("AllowN(%d): %v, want ErrInvalidArgument", n, err)
		}
	}
}

// FuzzAllowN checks the limiter's bounds for any rate, batch sizes and
// time step: no batch passes beyond what the bucket holds plus what it
// refilled, every verdict is consistent, nothing panics.
func FuzzAllowN(f *testing.F) {
	f.Add(1, 307445735, 307445735, 1, int64(0))
	f.Add(60, 60, 1, 1, int64(1000))
	f.Add(keys.MaxRequestsPerMinute, keys.MaxRequestsPerMinute, keys.MaxRequestsPerMinute, 7, int64(60_000))
	f.Add(7, 8, 7, 1, int64(-3_600_000))
	f.Fuzz(func(t *testing.T, rate, n1, n2, n3 int, stepMillis int64) {
		if rate < 1 || rate > keys.MaxRequestsPerMinute {
			return
		}
		clock := newFakeClock(start)
		m, err := keys.New(memstore.New(), keys.Config{
			Clock: clock.Now, FlushInterval: time.Hour,
			Tiers: map[keys.Tier]keys.Limits{"t": {RequestsPerMinute: rate, RequestsPerMonth: 1 << 62}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.CreateAccount(ctx(), keys.Account{ID: "a", Tier: "t", EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		iss, err := m.Reissue(ctx(), "a")
		if err != nil {
			t.Fatal(err)
		}
		k, err := m.Authenticate(ctx(), iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		interval := int64(time.Minute) / int64(rate)
		burst := int64(time.Minute) / interval
		var admitted, elapsed int64
		for i, n := range []int{n1, n2, n3} {
			if i == 2 {
				// A step of either sign; only forward steps refill.
				step := time.Duration(stepMillis%(24*3600*1000)) * time.Millisecond
				clock.Add(step)
				elapsed += max(int64(step), 0)
			}
			d, err := m.AllowN(ctx(), k, n)
			switch {
			case n < 1 || n > keys.MaxAllowN:
				if !errors.Is(err, keys.ErrInvalidArgument) {
					t.Fatalf("AllowN(%d): %v, want ErrInvalidArgument", n, err)
				}
				continue
			case err == nil:
				if !d.Allowed || d.RetryAfter != 0 {
					t.Fatalf("admitted without Allowed: %+v", d)
				}
				admitted += int64(n)
			case errors.Is(err, keys.ErrRateLimited):
				if d.Allowed || d.RetryAfter <= 0 {
					t.Fatalf("refused with %+v", d)
				}
			default:
				t.Fatalf("AllowN(%d): %v", n, err)
			}
			if d.Rate.Remaining < 0 || d.Rate.Remaining > burst || d.Rate.Limit != int64(rate) {
				t.Fatalf("rate window %+v for rate %d", d.Rate, rate)
			}
			if limit := burst + elapsed/interval; admitted > limit {
				t.Fatalf("admitted %d, at most %d fit (rate %d, n %d %d %d, step %dms)", admitted, limit, rate, n1, n2, n3, stepMillis)
			}
		}
	})
}
