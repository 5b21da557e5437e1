package keys

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The hot path (a warm Authenticate, Allow) counts in plain atomics,
// striped so that two cores rarely write one cache line at once, and the
// metrics read them through asynchronous instruments at collection time:
// a synchronous OTel counter would cost an attribute set lookup per call.
// The counters run only when a MeterProvider is set (nothing else reads
// them): from two cores, the line a count lands on is as often the other
// core's as this one's, and fetching it cost Authenticate and Allow
// about 35 ns each in the parallel benchmarks, where the branch that
// skips them costs nothing measurable.

// Outcomes of Authenticate, the values of the keys.outcome attribute of
// keys.authentications.
const (
	authOK = iota
	authMalformed
	authUnknown
	authRevoked
	authExpired
	authError  // the store failed or timed out, or the Manager is closed
	authForged // shaped like a token of this environment, but the checksum fails
	authOutcomes
)

var authOutcomeNames = [authOutcomes]string{"ok", "malformed", "unknown", "revoked", "expired", "error", "forged"}

// Outcomes of Allow and its variants, for keys.decisions.
const (
	decAllowed = iota
	decRateLimited
	decQuotaExceeded
	decOutcomes
)

var decOutcomeNames = [decOutcomes]string{"allowed", "rate_limited", "quota_exceeded"}

const statStripes = 8 // a power of two

// statStripe is one stripe of the hot-path counters, padded to two cache
// lines (the adjacent-line prefetcher pairs them).
type statStripe struct {
	auth      [authOutcomes]atomic.Uint64
	decisions [decOutcomes]atomic.Uint64
	hits      atomic.Uint64
	misses    atomic.Uint64
	_         [128 - (authOutcomes+decOutcomes+2)*8]byte
}

// stats are the Manager's hot-path counters.
type stats struct {
	// on is set in New when a MeterProvider will read the counters.
	on      bool
	stripes [statStripes]statStripe
}

// stripe picks a stripe by a byte of the key's hash or ID: different keys
// spread over the stripes, and one key's counts stay on one line. It
// returns nil when the counters are off; a nil stripe counts nothing.
func (s *stats) stripe(b byte) *statStripe {
	if !s.on {
		return nil
	}
	return &s.stripes[b&(statStripes-1)]
}

// hit, miss, ok and decision count one cache hit, cache miss,
// authenticated key or decision of outcome o; on a nil stripe, nothing.
func (s *statStripe) hit() {
	if s != nil {
		s.hits.Add(1)
	}
}

func (s *statStripe) miss() {
	if s != nil {
		s.misses.Add(1)
	}
}

func (s *statStripe) ok() {
	if s != nil {
		s.auth[authOK].Add(1)
	}
}

func (s *statStripe) decision(o int) {
	if s != nil {
		s.decisions[o].Add(1)
	}
}

// countMalformed counts a token that check refused: forged if it has the
// shape of a token of this environment (length, prefix, alphabet) and only
// its checksum is wrong, which a typo or a made-up token gives; malformed
// otherwise. Only refused tokens pay for the second look.
func (s *stats) countMalformed(f *tokenFormat, token string) {
	if !s.on {
		return
	}
	o := authForged
	if len(token) != tokenLen || token[:envPrefixLen] != f.prefix {
		o = authMalformed
	} else {
		for i := envPrefixLen; i < tokenLen; i++ {
			if !isBase62[token[i]] {
				o = authMalformed
				break
			}
		}
	}
	s.stripe(0).auth[o].Add(1)
}

// countAuth counts an Authenticate that failed with err.
func (s *statStripe) countAuth(err error) {
	if s == nil {
		return
	}
	o := authError
	switch err {
	case ErrMalformedKey:
		o = authMalformed
	case ErrUnknownKey:
		o = authUnknown
	case ErrRevokedKey:
		o = authRevoked
	case ErrExpiredKey:
		o = authExpired
	}
	s.auth[o].Add(1)
}

// sums adds up the stripes.
func (s *stats) sums() (auth [authOutcomes]uint64, dec [decOutcomes]uint64, hits, misses uint64) {
	for i := range s.stripes {
		st := &s.stripes[i]
		for o := range auth {
			auth[o] += st.auth[o].Load()
		}
		for o := range dec {
			dec[o] += st.decisions[o].Load()
		}
		hits += st.hits.Load()
		misses += st.misses.Load()
	}
	return
}

// Metric names and units, after the OpenTelemetry semantic conventions:
// dot-separated, a count's unit the thing counted in braces, durations
// in seconds.
const (
	meterName          = "github.com/keyward/keys"
	metricAuth         = "keys.authentications"
	metricDecisions    = "keys.decisions"
	metricCacheLookups = "keys.cache.lookups"
	metricStoreDur     = "keys.store.duration"
	metricFlushDur     = "keys.flush.duration"
	attrOutcome        = "keys.outcome"
	attrCacheResult    = "keys.cache.result"
	attrErrorType      = "error.type"
)

// durationBuckets suit store calls from an in-memory map (microseconds)
// to a remote database timing out (StoreTimeout, 5s by default).
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// telemetry is what the Manager records through OpenTelemetry; nil when
// neither Config.MeterProvider nor Config.TracerProvider is set, which
// keeps the store path as it was.
type telemetry struct {
	tracing
	storeDur metric.Float64Histogram
	flushDur metric.Float64Histogram
	reg      metric.Registration // the observable counters' callback
}

// newTelemetry registers the Manager's instruments with cfg's providers.
func newTelemetry(cfg *Config, s *stats) (*telemetry, error) {
	if cfg.MeterProvider == nil && cfg.TracerProvider == nil {
		return nil, nil
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	t := &telemetry{tracing: newTracing(cfg.TracerProvider)}
	meter := mp.Meter(meterName)
	auth, err := meter.Int64ObservableCounter(metricAuth, metric.WithUnit("{authentication}"),
		metric.WithDescription("Authenticate calls, by outcome."))
	if err != nil {
		return nil, err
	}
	dec, err := meter.Int64ObservableCounter(metricDecisions, metric.WithUnit("{decision}"),
		metric.WithDescription("Allow decisions (Allow, AllowN, AllowRate, AllowAccountRate), by outcome."))
	if err != nil {
		return nil, err
	}
	cache, err := meter.Int64ObservableCounter(metricCacheLookups, metric.WithUnit("{lookup}"),
		metric.WithDescription("Key cache lookups by Authenticate, by result (hit or miss)."))
	if err != nil {
		return nil, err
	}
	if t.storeDur, err = meter.Float64Histogram(metricStoreDur, metric.WithUnit("s"),
		metric.WithDescription("Duration of the Manager's store calls."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if t.flushDur, err = meter.Float64Histogram(metricFlushDur, metric.WithUnit("s"),
		metric.WithDescription("Duration of flushes of last-used times and usage counts."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	authSets := attrSets(attrOutcome, authOutcomeNames[:])
	decSets := attrSets(attrOutcome, decOutcomeNames[:])
	cacheSets := attrSets(attrCacheResult, []string{"hit", "miss"})
	t.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		a, d, hits, misses := s.sums()
		for i, n := range a {
			o.ObserveInt64(auth, int64(n), authSets[i])
		}
		for i, n := range d {
			o.ObserveInt64(dec, int64(n), decSets[i])
		}
		o.ObserveInt64(cache, int64(hits), cacheSets[0])
		o.ObserveInt64(cache, int64(misses), cacheSets[1])
		return nil
	}, auth, dec, cache)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// attrSets builds one attribute set per value, once, so that the callback
// does not build them per collection.
func attrSets(key string, values []string) []metric.ObserveOption {
	out := make([]metric.ObserveOption, len(values))
	for i, v := range values {
		out[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String(key, v)))
	}
	return out
}

// recordFlush records a flush's duration, with error.type when it failed.
func (t *telemetry) recordFlush(start time.Time, failed bool) {
	if t == nil {
		return
	}
	if failed {
		t.flushDur.Record(context.Background(), time.Since(start).Seconds(),
			metric.WithAttributes(attribute.String(attrErrorType, "flush_failed")))
		return
	}
	t.flushDur.Record(context.Background(), time.Since(start).Seconds())
}

// close unregisters the callback, so a closed Manager is not kept alive
// (and reported) by the MeterProvider.
func (t *telemetry) close() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// countDecision counts a decision the rate made (the quota's refusals are
// counted where they happen).
func (s *stats) countDecision(b byte, allowed bool) {
	o := decRateLimited
	if allowed {
		o = decAllowed
	}
	s.stripe(b).decision(o)
}
