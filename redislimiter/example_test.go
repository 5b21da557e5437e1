package redislimiter_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/redislimiter"
)

// Every Manager given a Limiter on the same Redis shares the per-minute
// rates. (The example runs an in-memory Redis; in production pass a client
// of your Redis, e.g. redis.NewClient(opt) from redis.ParseURL.)
func Example() {
	srv, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	ctx := context.Background()
	st := memstore.New()
	tiers := map[keys.Tier]keys.Limits{"tiny": {RequestsPerMinute: 3, RequestsPerMonth: 1000}}
	// Two Managers, as two processes would have. The Timeout is a second
	// here only so that a busy test machine does not make the example fall
	// back to in-process decisions (and print other numbers); in
	// production the default 50ms bounds what a slow Redis adds to a
	// request.
	opts := redislimiter.Options{Timeout: time.Second}
	a, _ := keys.New(st, keys.Config{Tiers: tiers, Limiter: redislimiter.New(rdb, opts)})
	b, _ := keys.New(st, keys.Config{Tiers: tiers, Limiter: redislimiter.New(rdb, opts)})
	defer a.Close()
	defer b.Close()

	if err := a.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: "tiny", EmailVerified: true}); err != nil {
		log.Fatal(err)
	}
	iss, _ := a.Reissue(ctx, "acct_1")
	ka, _ := a.Authenticate(ctx, iss.Secret)
	kb, _ := b.Authenticate(ctx, iss.Secret)
	for _, step := range []struct {
		m *keys.Manager
		k keys.Key
	}{{a, ka}, {b, kb}, {a, ka}, {b, kb}} {
		d, err := step.m.Allow(ctx, step.k)
		fmt.Println(d.Allowed, d.Rate.Remaining, err)
	}
	// Output:
	// true 2 <nil>
	// true 1 <nil>
	// true 0 <nil>
	// false 0 keys: rate limit exceeded
}
