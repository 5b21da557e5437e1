package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// demoAccount is the account serve creates on a database without it.
const demoAccount = "demo"

// shutdownGrace bounds how long in-flight requests may finish after
// SIGINT or SIGTERM.
const shutdownGrace = 10 * time.Second

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags(e, "serve")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	jwtSecret := fs.String("jwt-secret", e.getenv("KEYS_JWT_SECRET"), "HS256 secret for session JWTs, at least 32 bytes (default $KEYS_JWT_SECRET, which is safer: a flag shows in ps; none: API keys only)")
	demo := fs.Bool("demo", true, "create the demo account and print its root key if the database lacks it")
	cacheTTL := fs.Duration("cache-ttl", keys.DefaultCacheTTL, "how long a resolved key is trusted before the database is read again (changes made by the CLI or other servers show within it; negative disables the cache)")
	redisURL := fs.String("redis", e.getenv("KEYS_REDIS_URL"), "Redis URL (redis://host:6379/0) to share per-minute rates with every server given the same one (default $KEYS_REDIS_URL; none: rates per process)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	limiter, closeRedis, err := redisLimiter(ctx, *redisURL, log)
	if err != nil {
		return usagef("-redis: %v", err)
	}
	defer closeRedis() // after the Manager's Close, below

	var sessions httpadapter.SessionVerifier
	if *jwtSecret != "" {
		v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{Secret: []byte(*jwtSecret)})
		if err != nil {
			return usagef("-jwt-secret: %v", err)
		}
		sessions = v
	}
	b, err := open(ctx, e, c.db, keys.Config{Logger: log, CacheTTL: *cacheTTL, Limiter: limiter})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listening on %s: %w", *addr, err), b.close())
	}
	base := "http://" + ln.Addr().String()
	if *demo {
		if err := bootstrapDemo(ctx, e, b.m, base); err != nil {
			return errors.Join(err, ln.Close(), b.close())
		}
	}

	h := httpadapter.New(b.m, httpadapter.Options{Sessions: sessions, Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/account/", h)
	mux.Handle("GET /v1/ping", h.RequireKey(http.HandlerFunc(ping)))
	srv := &http.Server{
		Handler:           mux,
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
	// Close after the last request: it flushes usage counts and last-used
	// times, then the store closes.
	err = errors.Join(err, b.close())
	if err == nil {
		log.Info("keys: stopped cleanly")
	}
	return err
}

// bootstrapDemo creates the demo account on first start and prints its
// root key, once, with curl lines to try it.
func bootstrapDemo(ctx context.Context, e *env, m *keys.Manager, base string) error {
	err := m.CreateAccount(ctx, keys.Account{ID: demoAccount, Tier: keys.Pro, EmailVerified: true})
	if errors.Is(err, keys.ErrAccountExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the demo account: %w", err)
	}
	iss, err := m.Reissue(ctx, demoAccount)
	if err != nil {
		return fmt.Errorf("issuing the demo key: %w", err)
	}
	fmt.Fprintf(e.stdout, `Created the demo account %q (tier pro). Its root key, shown this once:

    %s

Try it:
    curl -s %s/account/key -H "Authorization: Bearer %s"
    curl -s -X POST %s/account/key/reissue -H "Authorization: Bearer %s"
    curl -s %s/v1/ping -H "Authorization: Bearer %s"

`, demoAccount, iss.Secret, base, iss.Secret, base, iss.Secret, base, iss.Secret)
	return nil
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

// redactDSN keeps a PostgreSQL password out of the logs, in either DSN
// form.
func redactDSN(db string) string {
	if !isPostgres(db) {
		return db
	}
	if strings.Contains(db, "://") {
		if u, err := url.Parse(db); err == nil {
			return u.Redacted()
		}
		return "postgres://…"
	}
	fields := strings.Fields(db)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && k == "password" {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}
