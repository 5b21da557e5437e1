package keys

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/keyward/keys/memstore"
)

// TestCountersOnlyWithMeterProvider: the hot-path counters count only
// when a MeterProvider will read them; without one, Authenticate and
// Allow write none (a write would cost the parallel paths a cache line).
func TestCountersOnlyWithMeterProvider(t *testing.T) {
	for _, withMeter := range []bool{false, true} {
		cfg := Config{}
		if withMeter {
			cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		}
		m, err := New(memstore.New(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := m.CreateAccount(ctx, Account{ID: "acct_1", Tier: Pro, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		iss, err := m.Reissue(ctx, "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			k, err := m.Authenticate(ctx, iss.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Allow(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = m.Authenticate(ctx, "sk_live_nonsense")
		auth, dec, hits, misses := m.stats.sums()
		counted := auth[authOK] + auth[authMalformed] + dec[decAllowed] + hits + misses
		if withMeter && (auth[authOK] != 3 || auth[authMalformed] != 1 || dec[decAllowed] != 3 || hits+misses != 3) {
			t.Errorf("with a MeterProvider: auth %v, decisions %v, hits %d, misses %d; want 3 ok, 1 malformed, 3 allowed, 3 lookups", auth, dec, hits, misses)
		}
		if !withMeter && counted != 0 {
			t.Errorf("without a MeterProvider the counters counted %d events", counted)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
