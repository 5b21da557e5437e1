package keys_test

import (
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// benchAuthAllow runs the warm hot path (Authenticate + Allow) of a
// Manager configured by cfg.
func benchAuthAllow(b *testing.B, cfg keys.Config) {
	cfg.Tiers = map[keys.Tier]keys.Limits{"bench": {RequestsPerMinute: 1 << 30, RequestsPerMonth: 1 << 62}}
	m, err := keys.New(memstore.New(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_bench", Tier: "bench", EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	iss, err := m.Reissue(ctx(), "acct_bench")
	if err != nil {
		b.Fatal(err)
	}
	tok := iss.Secret
	k, _ := m.Authenticate(ctx(), tok)
	if _, err := m.Allow(ctx(), k); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := m.Authenticate(ctx(), tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Allow(ctx(), k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateAllowMetricsOff and ...MetricsOn are the warm hot
// path without and with OpenTelemetry (an SDK MeterProvider with a
// ManualReader, an SDK TracerProvider): the pair shows what metrics cost
// it. Target: within noise (10%), 0 allocations both ways.
func BenchmarkAuthenticateAllowMetricsOff(b *testing.B) {
	benchAuthAllow(b, keys.Config{})
}

func BenchmarkAuthenticateAllowMetricsOn(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { mp.Shutdown(ctx()); tp.Shutdown(ctx()) })
	benchAuthAllow(b, keys.Config{MeterProvider: mp, TracerProvider: tp})
}
