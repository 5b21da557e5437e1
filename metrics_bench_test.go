package keys_test

import (
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// hotPath is a Manager configured by cfg with one warm key.
func hotPath(b *testing.B, cfg keys.Config) (*keys.Manager, string) {
	b.Helper()
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
	authAllow(b, m, iss.Secret) // warm: cached, and the month's usage read
	return m, iss.Secret
}

// authAllow is the warm hot path of a data request.
func authAllow(b *testing.B, m *keys.Manager, tok string) {
	k, err := m.Authenticate(ctx(), tok)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Allow(ctx(), k); err != nil {
		b.Fatal(err)
	}
}

// withTelemetry is a Config with SDK providers: a MeterProvider with a
// ManualReader and a TracerProvider.
func withTelemetry(b *testing.B) keys.Config {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { mp.Shutdown(ctx()); tp.Shutdown(ctx()) })
	return keys.Config{MeterProvider: mp, TracerProvider: tp}
}

// BenchmarkAuthenticateAllowMetricsOff and ...MetricsOn are the warm hot
// path (Authenticate + Allow) without and with OpenTelemetry: the pair
// shows what metrics cost it. Target: within noise (10%), 0 allocations
// both ways.
func BenchmarkAuthenticateAllowMetricsOff(b *testing.B) {
	m, tok := hotPath(b, keys.Config{})
	b.ReportAllocs()
	for b.Loop() {
		authAllow(b, m, tok)
	}
}

func BenchmarkAuthenticateAllowMetricsOn(b *testing.B) {
	m, tok := hotPath(b, withTelemetry(b))
	b.ReportAllocs()
	for b.Loop() {
		authAllow(b, m, tok)
	}
}

// BenchmarkAuthenticateAllowMetricsPaired alternates blocks of the hot
// path with metrics off and on in one loop and reports the mean of each
// and their ratio (x-off): on a shared machine whose load swings from
// second to second, the two see the same load. ns/op is 64 of each.
func BenchmarkAuthenticateAllowMetricsPaired(b *testing.B) {
	off, tokOff := hotPath(b, keys.Config{})
	on, tokOn := hotPath(b, withTelemetry(b))
	const block = 64
	var dOff, dOn time.Duration
	b.ReportAllocs()
	run := func(m *keys.Manager, tok string) time.Duration {
		t0 := time.Now()
		for range block {
			authAllow(b, m, tok)
		}
		return time.Since(t0)
	}
	first := false
	for b.Loop() {
		// Each goes first every other time, so that neither always runs
		// on caches the other has just warmed or cooled.
		if first = !first; first {
			dOff += run(off, tokOff)
			dOn += run(on, tokOn)
		} else {
			dOn += run(on, tokOn)
			dOff += run(off, tokOff)
		}
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(dOff.Nanoseconds())/n, "off-ns/op")
	b.ReportMetric(float64(dOn.Nanoseconds())/n, "on-ns/op")
	b.ReportMetric(float64(dOn)/float64(dOff), "x-off")
}
