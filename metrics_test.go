package keys_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// collect reads every metric of the reader by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// sumOf returns the point of a counter whose attribute key has value v.
func sumOf(t *testing.T, ms map[string]metricdata.Aggregation, name, key, v string) int64 {
	t.Helper()
	s, ok := ms[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, want a Sum[int64]", name, ms[name])
	}
	if !s.IsMonotonic {
		t.Errorf("%s is not monotonic", name)
	}
	for _, p := range s.DataPoints {
		if got, _ := p.Attributes.Value(attribute.Key(key)); got.AsString() == v {
			return p.Value
		}
	}
	t.Fatalf("%s has no point with %s=%s", name, key, v)
	return 0
}

func histCount(t *testing.T, ms map[string]metricdata.Aggregation, name string) uint64 {
	t.Helper()
	h, ok := ms[name].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, want a Histogram[float64]", name, ms[name])
	}
	var n uint64
	for _, p := range h.DataPoints {
		n += p.Count
	}
	return n
}

func TestMetricsCountOutcomes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f := newFixture(t, keys.Config{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Tiers:         map[keys.Tier]keys.Limits{"tiny": {RequestsPerMinute: 2, RequestsPerMonth: 3}},
	})
	f.account(t, "acme", "tiny")
	root := f.reissue(t, "acme")
	child := f.child(t, "acme", keys.ChildOptions{ExpiresAt: ptr(start.Add(time.Hour))})
	gone := f.child(t, "acme", keys.ChildOptions{})
	f.auth(t, gone.Secret)
	if err := f.m.Revoke(ctx(), gone.Key.ID); err != nil {
		t.Fatal(err)
	}

	k := f.auth(t, root.Secret) // a miss
	f.auth(t, root.Secret)      // a hit
	if _, err := f.m.Authenticate(ctx(), "sk_live_nonsense"); !errors.Is(err, keys.ErrMalformedKey) {
		t.Fatalf("malformed: %v", err)
	}
	forged := []byte(root.Secret)
	forged[20]++ // still base62 ('0'-'8' or a letter before z/Z), checksum now wrong
	if forged[20] == 'z'+1 || forged[20] == 'Z'+1 || forged[20] == '9'+1 {
		forged[20] = 'a'
	}
	if _, err := f.m.Authenticate(ctx(), string(forged)); !errors.Is(err, keys.ErrMalformedKey) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := f.m.Authenticate(ctx(), gone.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("revoked: %v", err)
	}
	// Allowed twice, then the rate (2/min) refuses; a minute on, the third
	// request is allowed and the monthly quota (3) refuses the fourth.
	for i, want := range []error{nil, nil, keys.ErrRateLimited} {
		if _, err := f.m.Allow(ctx(), k); !errors.Is(err, want) {
			t.Fatalf("Allow %d: %v, want %v", i, err, want)
		}
	}
	f.clock.Add(time.Minute)
	k = f.auth(t, root.Secret)
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Allow(ctx(), k); !errors.Is(err, keys.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v", err)
	}
	f.clock.Add(2 * time.Hour)
	if _, err := f.m.Authenticate(ctx(), child.Secret); !errors.Is(err, keys.ErrExpiredKey) {
		t.Fatalf("expired: %v", err)
	}
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}

	ms := collect(t, reader)
	for _, c := range []struct {
		name, key, value string
		want             int64
	}{
		{"keys.authentications", "keys.outcome", "ok", 4}, // gone once, root three times
		{"keys.authentications", "keys.outcome", "malformed", 1},
		{"keys.authentications", "keys.outcome", "forged", 1},
		{"keys.authentications", "keys.outcome", "unknown", 0},
		{"keys.authentications", "keys.outcome", "revoked", 1},
		{"keys.authentications", "keys.outcome", "expired", 1},
		{"keys.authentications", "keys.outcome", "error", 0},
		{"keys.decisions", "keys.outcome", "allowed", 3},
		{"keys.decisions", "keys.outcome", "rate_limited", 1},
		{"keys.decisions", "keys.outcome", "quota_exceeded", 1},
	} {
		if got := sumOf(t, ms, c.name, c.key, c.value); got != c.want {
			t.Errorf("%s{%s=%s} = %d, want %d", c.name, c.key, c.value, got, c.want)
		}
	}
	hits := sumOf(t, ms, "keys.cache.lookups", "keys.cache.result", "hit")
	misses := sumOf(t, ms, "keys.cache.lookups", "keys.cache.result", "miss")
	// Misses: gone, root, gone after its revocation, root a minute on (past
	// CacheTTL), child; the one hit is root's second use.
	if hits != 1 || misses != 5 {
		t.Errorf("cache hits %d misses %d, want 1 and 5", hits, misses)
	}
	if n := histCount(t, ms, "keys.store.duration"); n < 5 {
		t.Errorf("keys.store.duration has %d points, want a store call's each", n)
	}
	if n := histCount(t, ms, "keys.flush.duration"); n < 1 {
		t.Errorf("keys.flush.duration has %d points, want the Flush's", n)
	}
}

// TestMetricsUnknownAndStoreTimeout: a store call past StoreTimeout counts
// as an error outcome and a store call of error.type timeout. Time is
// synctest's: the hung call costs no real time, and the calls that must
// not time out cannot on a loaded machine.
func TestMetricsUnknownAndStoreTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		hs := newHangStore(memstore.New())
		f := newFixtureOn(t, hs, keys.Config{
			MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			StoreTimeout:  2 * time.Second,
		})
		f.account(t, "acme", keys.Pro)
		root := f.reissue(t, "acme")
		if err := f.m.Revoke(ctx(), root.Key.ID); err != nil {
			t.Fatal(err)
		}
		other := f.reissue(t, "acme")
		if err := f.m.Revoke(ctx(), other.Key.ID); err != nil {
			t.Fatal(err)
		}
		hs.setHang(true, "ResolveHash")
		if _, err := f.m.Authenticate(ctx(), other.Secret); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung store: %v", err)
		}
		hs.setHang(false, "ResolveHash")
		ms := collect(t, reader)
		if got := sumOf(t, ms, "keys.authentications", "keys.outcome", "error"); got != 1 {
			t.Errorf("error outcomes %d, want 1", got)
		}
		h := ms["keys.store.duration"].(metricdata.Histogram[float64])
		timeouts := uint64(0)
		for _, p := range h.DataPoints {
			if v, ok := p.Attributes.Value("error.type"); ok && v.AsString() == "timeout" {
				timeouts += p.Count
			}
		}
		if timeouts != 1 {
			t.Errorf("store calls with error.type=timeout: %d, want 1", timeouts)
		}
	})
}

func TestMetricsUnknownKey(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f := newFixture(t, keys.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	f.account(t, "acme", keys.Pro)
	iss := f.reissue(t, "acme")
	if err := f.m.Revoke(ctx(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	// A well-formed token of a key that was never stored.
	other := newFixture(t, keys.Config{})
	other.account(t, "acme", keys.Pro)
	stranger := other.reissue(t, "acme")
	if _, err := f.m.Authenticate(ctx(), stranger.Secret); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("unknown: %v", err)
	}
	if got := sumOf(t, collect(t, reader), "keys.authentications", "keys.outcome", "unknown"); got != 1 {
		t.Errorf("unknown outcomes %d, want 1", got)
	}
}

// TestMetricsStopAtClose: a closed Manager's callback is unregistered, so
// the provider neither reports nor keeps it.
func TestMetricsStopAtClose(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := keys.New(memstore.New(), keys.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := collect(t, reader)["keys.authentications"]; !ok {
		t.Fatal("no keys.authentications while open")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if s, ok := collect(t, reader)["keys.authentications"].(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
		t.Errorf("keys.authentications still reported after Close: %v", s.DataPoints)
	}
}

func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	f := newFixture(t, keys.Config{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	f.account(t, "acme", keys.Pro)
	root := f.reissue(t, "acme")
	child := f.child(t, "acme", keys.ChildOptions{})
	if err := f.m.Revoke(ctx(), child.Key.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revoke(ctx(), uuid.New()); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatal(err)
	}

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	for _, name := range []string{"keys.Reissue", "keys.IssueChild", "keys.Revoke"} {
		if len(byName[name]) == 0 {
			t.Fatalf("no %s span; got %v", name, byName)
		}
	}
	re := byName["keys.Reissue"][0]
	children := 0
	for _, s := range byName["keys.store"] {
		if s.Parent().SpanID() == re.SpanContext().SpanID() {
			children++
		}
	}
	if children == 0 {
		t.Error("the Reissue's store calls are not children of its span")
	}
	if failed := byName["keys.Revoke"][1]; failed.Status().Code.String() != "Error" {
		t.Errorf("Revoke of an unknown key: status %v, want Error", failed.Status())
	}

	// A warm Authenticate and Allow make no span (the first Allow reads
	// the month's usage from the store).
	k := f.auth(t, root.Secret)
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	before := len(rec.Ended())
	k = f.auth(t, root.Secret)
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()) - before; n != 0 {
		t.Errorf("a warm Authenticate and Allow made %d spans", n)
	}
	if len(rec.Started()) != len(rec.Ended()) {
		t.Errorf("%d spans started, %d ended", len(rec.Started()), len(rec.Ended()))
	}
}

// TestHotPathAllocsWithTelemetry: with SDK metric and trace providers set,
// a warm Authenticate + Allow allocates nothing (the benchmarks measure
// its time).
func TestHotPathAllocsWithTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	f := newFixture(t, keys.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(),
	})
	f.account(t, "acme", keys.Pro)
	tok := f.reissue(t, "acme").Secret
	k := f.auth(t, tok)
	if _, err := f.m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		k, _ = f.m.Authenticate(ctx(), tok)
		if _, err := f.m.Allow(ctx(), k); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per warm Authenticate + Allow with telemetry, want 0", n)
	}
	if got := sumOf(t, collect(t, reader), "keys.decisions", "keys.outcome", "allowed"); got < 101 {
		t.Errorf("decisions allowed %d, want at least 101", got)
	}
}
