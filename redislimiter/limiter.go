package redislimiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
)

// Options configures a Limiter. Its zero value works: every field has a
// default, given in its doc.
type Options struct {
	// Prefix starts the name of every Redis key the Limiter writes, so
	// that it can share a database with other data. Default: "keys:rate:".
	// The account ID follows in braces, a Redis Cluster hash tag that puts
	// both buckets of a request in one slot; Prefix itself must not hold
	// braces.
	Prefix string

	// Timeout bounds one decision on Redis, from sending the script to
	// reading its answer. Past it the request is decided in-process and
	// the Limiter falls back. Default: 50ms.
	Timeout time.Duration

	// RetryInterval is how often, while falling back, one request tries
	// Redis again (and pays up to Timeout for it). Default: 1s.
	RetryInterval time.Duration

	// Clock, if set, supplies the time of every decision, in place of
	// Redis's own clock (TIME, read inside the script, so that the hosts'
	// clocks need not agree). Tests set it to drive time; in production
	// leave it nil. Time is counted in microseconds.
	Clock func() time.Time

	// Fallback decides while Redis is unreachable or slow. Default: a
	// keys.LocalLimiter, per process (so with P processes an account may
	// get up to P times its rate until Redis answers again). It takes
	// time from keys.RateRequest.Now.
	Fallback keys.Limiter

	// Logger receives one message when the Limiter falls back and one
	// when Redis answers again. Default: none.
	Logger *slog.Logger
}

// Defaults for Options fields left zero.
const (
	DefaultPrefix        = "keys:rate:"
	DefaultTimeout       = 50 * time.Millisecond
	DefaultRetryInterval = time.Second
)

// Limiter is a keys.Limiter over Redis: every Manager that shares one
// Redis shares the rates exactly. It is safe for concurrent use.
type Limiter struct {
	client redis.UniversalClient
	opts   Options
	// inline is set when the client bounds its socket reads by the
	// context's deadline, so a call needs no goroutine of its own.
	inline bool

	// down is set while decisions fall back; nextProbe (UnixNano, wall
	// clock) is when a request may next try Redis.
	down      atomic.Bool
	nextProbe atomic.Int64
}

// New returns a Limiter that keeps its buckets in client's database.
func New(client redis.UniversalClient, opts Options) *Limiter {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Fallback == nil {
		opts.Fallback = keys.NewLocalLimiter()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{client: client, opts: opts, inline: honoursDeadlines(client)}
}

// honoursDeadlines reports whether client was built with
// ContextTimeoutEnabled, which makes go-redis bound a socket read by the
// context's deadline (without it, by ReadTimeout only: 3s by default).
func honoursDeadlines(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Take implements keys.Limiter. It never returns an error because of
// Redis: when Redis fails or does not answer within Options.Timeout, the
// request is decided by Options.Fallback, and so are the requests that
// follow until Redis answers a retry (one request every
// Options.RetryInterval). An error from the Fallback is returned as is.
func (l *Limiter) Take(ctx context.Context, r keys.RateRequest) (keys.RateResult, error) {
	if l.down.Load() && !l.probe() {
		return l.opts.Fallback.Take(ctx, r)
	}
	res, err := l.take(ctx, r)
	if err == nil {
		if l.down.Load() && l.down.CompareAndSwap(true, false) {
			l.opts.Logger.Info("redislimiter: Redis answers again; rates are shared once more")
		}
		return res, nil
	}
	if ctx.Err() == nil {
		// Redis failed, not the caller: fall back until it answers.
		l.nextProbe.Store(time.Now().Add(l.opts.RetryInterval).UnixNano())
		if l.down.CompareAndSwap(false, true) {
			l.opts.Logger.Warn("redislimiter: Redis failed; deciding rates in this process until it answers",
				"err", err, "retry_every", l.opts.RetryInterval)
		}
	}
	return l.opts.Fallback.Take(ctx, r)
}

// probe reports whether this request is the one to try Redis again.
func (l *Limiter) probe() bool {
	now := time.Now().UnixNano()
	next := l.nextProbe.Load()
	return now >= next && l.nextProbe.CompareAndSwap(next, now+int64(l.opts.RetryInterval))
}

// errTimeout reports a decision Redis did not give within Options.Timeout.
var errTimeout = errors.New("redislimiter: no answer from Redis within the timeout")

type reply struct {
	v   []int64
	err error
}

// take decides r on Redis within Options.Timeout. go-redis bounds a socket
// read by the context's deadline only when the client was built with
// ContextTimeoutEnabled; with any other client the call runs in a
// goroutine of its own, so that the deadline holds whatever the client's
// options (a call that outlives it finishes, or fails, in the background).
// That costs a goroutine and two scheduling hops per decision, which is
// why `keys serve` builds its client with ContextTimeoutEnabled.
func (l *Limiter) take(ctx context.Context, r keys.RateRequest) (keys.RateResult, error) {
	key, pool := bucketOf(r.KeyRate), bucketOf(r.PoolRate)
	n := int64(max(r.N, 1))
	now := ""
	if l.opts.Clock != nil {
		now = strconv.FormatInt(l.opts.Clock().UnixMicro(), 10)
	}
	tag := l.opts.Prefix + "{" + r.AccountID + "}"
	ks := []string{tag + r.KeyID.String(), tag}
	args := []any{now, n, key.interval, pool.interval}

	cctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	var rep reply
	if l.inline {
		rep.v, rep.err = l.eval(cctx, ks, args)
		// The socket's deadline may fire a moment before the context's
		// timer: either way the deadline passed.
		var ne net.Error
		if rep.err != nil && (cctx.Err() != nil || errors.As(rep.err, &ne) && ne.Timeout()) {
			return keys.RateResult{}, deadlineErr(ctx)
		}
		return l.answer(rep, key, pool, n)
	}
	ch := make(chan reply, 1)
	go func() {
		v, err := l.eval(cctx, ks, args)
		ch <- reply{v, err}
	}()
	select {
	case rep = <-ch:
	case <-cctx.Done():
		return keys.RateResult{}, deadlineErr(ctx)
	}
	return l.answer(rep, key, pool, n)
}

// deadlineErr is the error of a call whose context ended: the caller's, or the
// timeout.
func deadlineErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errTimeout
}

// answer turns the script's reply into the Limiter's.
func (l *Limiter) answer(rep reply, key, pool bucket, n int64) (keys.RateResult, error) {
	if rep.err != nil {
		return keys.RateResult{}, rep.err
	}
	if len(rep.v) != 3 {
		return keys.RateResult{}, fmt.Errorf("redislimiter: the script answered %d values, want 3", len(rep.v))
	}
	return decide(rep.v[0], rep.v[1], rep.v[2], key, pool, n), nil
}

// eval runs the script by its digest, loading it when Redis does not
// have it (a restart, SCRIPT FLUSH, a failover).
func (l *Limiter) eval(ctx context.Context, ks []string, args []any) ([]int64, error) {
	v, err := takeScript.EvalSha(ctx, l.client, ks, args...).Int64Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = takeScript.Load(ctx, l.client).Err(); err != nil {
			return nil, fmt.Errorf("redislimiter: loading the script: %w", err)
		}
		v, err = takeScript.EvalSha(ctx, l.client, ks, args...).Int64Slice()
	}
	if err != nil {
		return nil, fmt.Errorf("redislimiter: %w", err)
	}
	return v, nil
}
