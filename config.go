package keys

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Manager. Its zero value works: every field has a
// default, given in its doc.
type Config struct {
	// Tiers sets the limits of each tier. Entries are merged over the
	// defaults (free 60/min 10,000/month, starter 300/min 100,000/month, pro
	// 300/min 500,000/month, quant 1,200/min 5,000,000/month); a zero field
	// of a built-in tier keeps its default, and new tiers may be added (with
	// both fields positive).
	Tiers map[Tier]Limits

	// Environment is "live" (default) or "test"; test managers issue and
	// accept sk_test_ tokens only.
	Environment string

	// Pepper, if set, is a server-side secret mixed into every key hash
	// (HMAC-SHA-256), so a leaked database alone cannot confirm a token.
	// Default: none (SHA-256). Changing it invalidates every stored key.
	Pepper []byte

	// Clock returns the current time. Default: the wall clock (read as
	// time.Now re-anchored every FlushInterval plus monotonic time, which is
	// cheaper per call).
	//
	// Wall time is used only for what is stored and shown (expiry, months,
	// last-used times, Reset). Cache TTLs and rate state run on monotonic
	// time, so a step of the wall clock does not stretch them: with the
	// default, the monotonic clock; with a Clock set here, its forward
	// movement only (a backward step is ignored; times that carry a
	// monotonic reading, like time.Now's, are compared by it).
	Clock func() time.Time

	// CacheTTL bounds how long a resolved key is trusted before it is read
	// from the store again, and so how long a change made by another process
	// sharing the store can go unseen. Changes made through this Manager take
	// effect at once. Default: 5s; a negative value disables the cache.
	CacheTTL time.Duration

	// CacheSize bounds the number of resolved keys held. Default: 65,536.
	CacheSize int

	// FlushInterval is how often last-used times and usage counts are
	// written to the store; a crash loses at most this much of them.
	// Default: 1s.
	FlushInterval time.Duration

	// StoreTimeout bounds every store call the Manager makes, the flushes
	// included, so a hung store turns into errors instead of requests and
	// shutdowns that wait forever; a shorter deadline on the caller's ctx
	// still applies. Default: 5s; a negative value sets no bound beyond the
	// caller's ctx.
	StoreTimeout time.Duration

	// LookupRate is the forged-token defence's budget: how many store
	// lookups per second (with a burst of as many) this Manager makes for
	// tokens that are neither cached nor remembered as unknown. Past it,
	// Authenticate returns ErrBusy (HTTP 503 with Retry-After: 1), never
	// ErrUnknownKey, so a flood of well-formed forged tokens costs the
	// store at most this many queries a second. Unknown tokens are
	// remembered for 2s (until any store notification), and concurrent
	// lookups of one token make one store read. Default: 100
	// (DefaultLookupRate); a negative value sets no budget. With the cache
	// disabled there is no defence: every Authenticate reads the store.
	LookupRate int

	// Limiter, if set, enforces the per-minute rates instead of the built-in
	// in-memory GCRA limiter, which is per process and decides rate and quota
	// under one lock. Default: nil, the built-in.
	Limiter Limiter

	// Logger receives background errors (failed flushes). Default: none.
	Logger *slog.Logger

	// MeterProvider receives the Manager's metrics (README, "Observability",
	// lists them). Default: nil, no metrics recorded, and the hot-path
	// counters do not run.
	MeterProvider metric.MeterProvider

	// TracerProvider receives spans around store calls and key changes.
	// Default: nil, no spans.
	TracerProvider trace.TracerProvider

	// OnEvent, if set, is called with every audit event a change through
	// this Manager commits, and with the notices of EventQuotaThreshold,
	// EventKeyExpiring and EventRateLimited. It is called from one
	// goroutine of its own, never on a request's path: events wait in a
	// buffer of EventBuffer, a full buffer drops them (DroppedEvents counts
	// them, the Logger is told), a panic is recovered and logged, and
	// events still buffered when the Manager closes are dropped.
	//
	// For EventKeyExpiring the Manager also reads the store when it is a
	// store.ExpiringLister (every backend of this module is), on a
	// goroutine of its own: one FlushInterval after New, then every 5 minutes by
	// Clock, one indexed read (a page per 500 keys, each bounded by
	// StoreTimeout) of the keys, of every account, that expire within 7
	// days, so that keys no one uses get their notices too. A failed read
	// is logged and retried at the next. Default: nil, no hook.
	OnEvent func(Event)
	// EventBuffer is how many events wait for a slow OnEvent before new
	// ones are dropped. Default: DefaultEventBuffer.
	EventBuffer int
}

// MaxRequestsPerMinute is the highest rate a tier may have: the rate
// limiter counts in nanoseconds per request, so a minute holds at most this
// many (with room to spare).
const MaxRequestsPerMinute = 1 << 30

// Defaults for Config fields left zero.
const (
	DefaultCacheTTL      = 5 * time.Second
	DefaultCacheSize     = 1 << 16
	DefaultFlushInterval = time.Second
	DefaultStoreTimeout  = 5 * time.Second
)

// DefaultTiers returns the built-in limits of each tier.
func DefaultTiers() map[Tier]Limits {
	return map[Tier]Limits{
		Free:    {RequestsPerMinute: 60, RequestsPerMonth: 10_000},
		Starter: {RequestsPerMinute: 300, RequestsPerMonth: 100_000},
		Pro:     {RequestsPerMinute: 300, RequestsPerMonth: 500_000},
		Quant:   {RequestsPerMinute: 1_200, RequestsPerMonth: 5_000_000},
	}
}

// withDefaults returns c with every zero field set to its default, or an
// error wrapping ErrInvalidArgument.
func (c Config) withDefaults() (Config, error) {
	tiers := DefaultTiers()
	for t, l := range c.Tiers {
		if t == "" {
			return c, invalidf("tier name is empty")
		}
		if l.RequestsPerMinute < 0 || l.RequestsPerMonth < 0 {
			return c, invalidf("tier %q: negative limit", t)
		}
		if l.RequestsPerMinute > MaxRequestsPerMinute {
			return c, invalidf("tier %q: a rate of %d per minute is above the most the limiter counts, %d", t, l.RequestsPerMinute, MaxRequestsPerMinute)
		}
		def, builtin := tiers[t]
		if !builtin && (l.RequestsPerMinute == 0 || l.RequestsPerMonth == 0) {
			return c, invalidf("tier %q: both limits must be positive", t)
		}
		if l.RequestsPerMinute == 0 {
			l.RequestsPerMinute = def.RequestsPerMinute
		}
		if l.RequestsPerMonth == 0 {
			l.RequestsPerMonth = def.RequestsPerMonth
		}
		tiers[t] = l
	}
	c.Tiers = tiers
	switch c.Environment {
	case "":
		c.Environment = "live"
	case "live", "test":
	default:
		return c, invalidf("environment %q: want live or test", c.Environment)
	}
	c.Pepper = append([]byte(nil), c.Pepper...)
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CacheSize < 0 {
		return c, invalidf("CacheSize %d is negative", c.CacheSize)
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.FlushInterval < 0 {
		return c, invalidf("FlushInterval %v is negative", c.FlushInterval)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.LookupRate == 0 {
		c.LookupRate = DefaultLookupRate
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.EventBuffer < 0 {
		return c, invalidf("EventBuffer %d is negative", c.EventBuffer)
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	return c, nil
}

// tierLimits returns the limits of t, "" meaning Free.
func (c *Config) tierLimits(t Tier) (Limits, error) {
	if t == "" {
		t = Free
	}
	l, ok := c.Tiers[t]
	if !ok {
		return Limits{}, invalidf("unknown tier %q (known: %v)", t, sortedTiers(c.Tiers))
	}
	return l, nil
}

func sortedTiers(m map[Tier]Limits) string {
	return fmt.Sprint(slices.Sorted(maps.Keys(m)))
}
