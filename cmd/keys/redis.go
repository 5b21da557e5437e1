package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
	"github.com/keyward/keys/redislimiter"
)

// redisLimiter returns the rate limiter of `serve -redis url`: nil for an
// empty url (the Manager's built-in limiter, per process), else a
// redislimiter on that Redis, shared by every server given the same url,
// and a function that closes its client. A url that does not parse is an
// error; a Redis that does not answer is only logged, since the limiter
// decides in-process until it does.
//
// timeout bounds each Redis call before the limiter decides in-process
// instead (0: redislimiter's default, 50 ms); serve reads it from
// $KEYS_REDIS_TIMEOUT.
func redisLimiter(ctx context.Context, url string, timeout time.Duration, log *slog.Logger) (keys.Limiter, func() error, error) {
	if url == "" {
		return nil, func() error { return nil }, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, err
	}
	// Bound each call by the limiter's deadline on the socket itself, so
	// the limiter needs no goroutine per decision.
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		log.Warn("keys: Redis does not answer; rates are per process until it does", "addr", opt.Addr, "err", err)
	}
	return redislimiter.New(client, redislimiter.Options{Logger: log, Timeout: timeout}), client.Close, nil
}
