package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// demoAccount is the account serve creates on a database without it,
// unless the configuration names another.
const demoAccount = "demo"

// shutdownGrace bounds how long in-flight requests may finish after
// SIGINT or SIGTERM.
const shutdownGrace = 10 * time.Second

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagsNoJSON(e, "serve")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	fs.String("jwt-secret", e.getenv("KEYS_JWT_SECRET"), "HS256 secret for session JWTs, at least 32 bytes (default $KEYS_JWT_SECRET, which is safer: a flag shows in ps; none: API keys only)")
	demo := demoAuto
	fs.Var(&demo, "demo", "create the demo account (tier pro) and print its root key if the database lacks it; `mode` is auto (only on a new SQLite database), true or false")
	cacheTTL := fs.Duration("cache-ttl", keys.DefaultCacheTTL, "how long a resolved key is trusted before the database is read again (changes made by the CLI or other servers show within it; negative disables the cache)")
	lookupRate := fs.Int("lookup-rate", keys.DefaultLookupRate, "store lookups per second for tokens neither cached nor carrying this store's tag (a flood of forged tokens costs at most this; past it 503 with Retry-After: 1; negative: no budget)")
	printConfig := addServeFlags(fs)
	ui := fs.Bool("ui", false, "serve the demo key page at / for the demo account (default: only when this run created the demo account)")
	redisURL := fs.String("redis", e.getenv("KEYS_REDIS_URL"), "Redis URL (redis://host:6379/0) to share per-minute rates with every server given the same one (default $KEYS_REDIS_URL; none: rates per process)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	conf := e.conf // the flags above, merged with -config and the environment
	if *printConfig {
		return conf.printConfig(e.stdout)
	}
	log, err := newLogger(conf.LogFormat, e.stderr)
	if err != nil {
		return usagef("-log-format: %v", err)
	}
	meters, metricsHandler, err := newMetrics()
	if err != nil {
		return err
	}
	defer meters.Shutdown(context.Background())
	var redisTimeout time.Duration
	if v := e.getenv("KEYS_REDIS_TIMEOUT"); v != "" {
		if redisTimeout, err = time.ParseDuration(v); err != nil || redisTimeout <= 0 {
			return usagef("$KEYS_REDIS_TIMEOUT %q: want a positive duration such as 50ms", v)
		}
	}
	limiter, closeRedis, err := redisLimiter(ctx, *redisURL, redisTimeout, log)
	if err != nil {
		return usagef("-redis: %v", err)
	}
	defer closeRedis() // after the Manager's Close, below

	sessions, err := conf.sessionVerifier(ctx, log)
	if err != nil {
		return err
	}
	// Known before open, which creates the file.
	fresh := newSQLite(c.db)
	b, err := open(ctx, e, c, true, keys.Config{Logger: log, CacheTTL: *cacheTTL, LookupRate: *lookupRate, Limiter: limiter, MeterProvider: meters})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listening on %s: %w", *addr, err), b.close())
	}
	base := "http://" + ln.Addr().String()
	created := false
	if demo.wanted(fresh) {
		if created, err = bootstrapDemo(ctx, e, b.m, base, conf.Demo.Account); err != nil {
			return errors.Join(err, ln.Close(), b.close())
		}
	}

	opts := httpadapter.Options{Sessions: sessions, Logger: log, TrustedOrigins: conf.trustedOrigins(),
		OnAuthenticated: noteKey}
	var page *demoPage
	if created || *ui {
		// The script's URL does not depend on the options.
		script := httpadapter.New(b.m, httpadapter.Options{}).ScriptURL()
		if page, err = newDemoPage(conf.Demo.Account, script); err != nil {
			return errors.Join(err, ln.Close(), b.close())
		}
		opts.SessionFromRequest = page.session
	}
	h := httpadapter.New(b.m, opts)
	mux := http.NewServeMux()
	if page != nil {
		mux.Handle("/{$}", onlyMethods("GET, HEAD", page))
		fmt.Fprintf(e.stdout, "The key page of the account %q: %s/ (this machine only; never expose it)\n", conf.Demo.Account, base)
	}
	mux.Handle("/account/", conf.withCORS(h))
	mux.Handle("/v1/ping", onlyMethods("GET, HEAD", h.RequireKey(http.HandlerFunc(ping))))
	mux.Handle("/metrics", onlyMethods("GET, HEAD", metricsHandler))
	mux.Handle("/healthz", onlyMethods("GET, HEAD", http.HandlerFunc(healthz)))
	mux.Handle("/readyz", onlyMethods("GET, HEAD", readyz(b.st, log)))
	mux.Handle("/", notFound)          // every other path: a JSON 404, not the mux's text
	proxies, _ := conf.proxyPrefixes() // checked by parse
	srv := &http.Server{
		Handler:           withClientAddr(proxies, accessLog(log, jsonPaths([]string{"/account"}, mux))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("keys: serving", "addr", ln.Addr().String(), "db", redactDSN(c.db), "sessions", sessions != nil)
	fmt.Fprintf(e.stdout, "Listening on %s (Ctrl-C stops)\n", base)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served: // the listener failed
	case <-ctx.Done():
		log.Info("keys: shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		err = srv.Shutdown(sctx)
		cancel()
		<-served
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// After the last request, a final flush with its own deadline, so a
	// hung store cannot hold the exit (Shutdown logs what it could not
	// write); close then returns Shutdown's result and closes the store.
	fctx, fcancel := context.WithTimeout(context.Background(), shutdownGrace)
	_ = b.m.Shutdown(fctx)
	fcancel()
	err = errors.Join(err, b.close())
	if err == nil {
		log.Info("keys: stopped cleanly")
	}
	return err
}

// bootstrapDemo creates the demo account on first start and prints its
// root key, once, with curl lines to try it. It reports whether it created
// the account.
func bootstrapDemo(ctx context.Context, e *env, m *keys.Manager, base, demoAccount string) (bool, error) {
	err := m.CreateAccount(ctx, keys.Account{ID: demoAccount, Tier: keys.Pro, EmailVerified: true})
	if errors.Is(err, keys.ErrAccountExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating the demo account: %w", err)
	}
	iss, err := m.Reissue(ctx, demoAccount)
	if err != nil {
		return true, fmt.Errorf("issuing the demo key: %w", err)
	}
	fmt.Fprintf(e.stdout, `Created the demo account %q (tier pro). Its root key, shown this once:

    %s

Try it:
    curl -s %s/account/key -H "Authorization: Bearer %s"
    curl -s -X POST %s/account/key/reissue -H "Authorization: Bearer %s"
    curl -s %s/v1/ping -H "Authorization: Bearer %s"

`, demoAccount, iss.Secret, base, iss.Secret, base, iss.Secret, base, iss.Secret)
	return true, nil
}

// ping is the demo data route: it answers with the caller's key and what
// is left of its monthly quota.
func ping(w http.ResponseWriter, r *http.Request) {
	k, _ := keys.FromContext(r.Context())
	d, _ := httpadapter.DecisionFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"pong":            true,
		"key_id":          k.ID,
		"quota_remaining": d.Quota.Remaining,
	})
}
