package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/rs/cors"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// addServeFlags defines serve's configuration flags beyond -addr, -db,
// -jwt-secret, -demo and -cache-ttl, and returns -print-config.
func addServeFlags(fs *flag.FlagSet) (printConfig *bool) {
	fs.String("jwks-url", "", "sessions: the login provider's JWKS URL (needs -jwt-issuer and -jwt-audience; default $KEYS_JWKS_URL)")
	fs.String("jwt-issuer", "", "sessions: the required \"iss\" (default $KEYS_JWT_ISSUER)")
	fs.String("jwt-audience", "", "sessions: the required \"aud\" (default $KEYS_JWT_AUDIENCE)")
	fs.String("jwt-type", "", "sessions: the required header \"typ\", such as at+jwt (default $KEYS_JWT_TYPE: any)")
	fs.String("jwt-account-claim", "", "sessions: the claim holding the account ID (default $KEYS_JWT_ACCOUNT_CLAIM, else sub)")
	fs.String("cors-origins", "", "comma-separated origins allowed to call the account routes from a browser (default $KEYS_CORS_ORIGINS)")
	fs.String("trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client (default $KEYS_TRUSTED_PROXIES)")
	fs.String("log-format", "text", "log format: text or json (default $KEYS_LOG_FORMAT, else text)")
	return fs.Bool("print-config", false, "print the effective configuration, secrets redacted, and exit")
}

// sessionVerifier builds the session verifier the configuration asks for:
// HS256 with a secret, a login provider's JWKS, or none (API keys only).
func (c *config) sessionVerifier(ctx context.Context, log *slog.Logger) (httpadapter.SessionVerifier, error) {
	s := c.Sessions
	switch {
	case s.secret != "":
		if s.Issuer == "" || s.Audience == "" {
			log.Warn("keys: HS256 sessions without an issuer and an audience: any token signed with the secret is a session")
		}
		v, err := httpadapter.NewJWTVerifier(httpadapter.JWTConfig{
			Secret: []byte(s.secret), Issuer: s.Issuer, Audience: s.Audience, Type: s.Type, AccountClaim: s.AccountClaim,
		})
		if err != nil {
			return nil, usagef("sessions: %v", err)
		}
		return v, nil
	case s.JWKSURL != "":
		v, err := httpadapter.NewJWKSVerifier(ctx, httpadapter.JWKSConfig{
			URL: s.JWKSURL, Issuer: s.Issuer, Audience: s.Audience, Type: s.Type, AccountClaim: s.AccountClaim, Logger: log,
		})
		if err != nil {
			return nil, usagef("sessions: %v", err)
		}
		return v, nil
	}
	return nil, nil
}

// trustedOrigins are the CORS origins that the cross-origin protection of
// cookie sessions trusts too (DESIGN 5.6); wildcards are CORS-only.
func (c *config) trustedOrigins() []string {
	var out []string
	for _, o := range c.CORS.Origins {
		if !strings.Contains(o, "*") {
			out = append(out, o)
		}
	}
	return out
}

// withCORS answers preflights and adds CORS headers for the configured
// origins; with none it returns h unchanged (same-origin only).
func (c *config) withCORS(h http.Handler) http.Handler {
	if len(c.CORS.Origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins: c.CORS.Origins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		ExposedHeaders: []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
		MaxAge:         600,
	}).Handler(h)
}

// jsonError answers with the adapter's error shape, so that no path serve
// answers (unknown ones included) gets the mux's plain text.
func jsonError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	httpadapter.DefaultErrorHandler(w, r, &httpadapter.Error{Status: status, Code: code, Message: msg})
}

// notFound is serve's answer for every path it does not serve.
var notFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	jsonError(w, r, http.StatusNotFound, httpadapter.CodeNotFound, "There is nothing at this path.")
})

// onlyMethods refuses other methods with a JSON 405 and Allow.
func onlyMethods(allow string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range strings.Split(allow, ", ") {
			if r.Method == m {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		jsonError(w, r, http.StatusMethodNotAllowed, httpadapter.CodeMethodNotAllowed,
			"This method is not allowed here; the Allow header lists those that are.")
	})
}

// withClientAddr sets r.RemoteAddr to the client named by X-Forwarded-For
// when the request comes from a trusted proxy, so that everything after it
// (the adapter's client address, logs) sees the client, not the proxy.
func withClientAddr(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := forwardedClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); ok {
			r = r.WithContext(r.Context()) // a shallow copy: the caller's request stays as it was
			r.RemoteAddr = net.JoinHostPort(a.String(), "0")
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient walks X-Forwarded-For from the right (the hop nearest
// this server) past trusted proxies; the first untrusted address is the
// client. Anything a client wrote further left is not believed. ok is
// false when the peer is not a trusted proxy or a hop does not parse.
func forwardedClient(remoteAddr string, xff []string, trusted []netip.Prefix) (netip.Addr, bool) {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer.Unmap()) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	var a netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err = netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		a = a.Unmap()
		if !isTrusted(a) {
			return a, true
		}
	}
	return a, a.IsValid() // every hop a proxy: the leftmost is the client
}

// printConfig writes the effective configuration as TOML with the secrets
// redacted and the tiers as the Manager will apply them.
func (c *config) printConfig(w io.Writer) error {
	redacted := func(set bool, from string) string {
		if !set {
			return "(none)"
		}
		return "(redacted; from " + from + ")"
	}
	secretFrom := "$KEYS_JWT_SECRET or -jwt-secret"
	if c.Sessions.SecretFile != "" {
		secretFrom = c.Sessions.SecretFile
	}
	tiers := keys.DefaultTiers()
	for name, t := range c.Tiers {
		l := tiers[keys.Tier(name)]
		if t.RequestsPerMinute != 0 {
			l.RequestsPerMinute = t.RequestsPerMinute
		}
		if t.RequestsPerMonth != 0 {
			l.RequestsPerMonth = t.RequestsPerMonth
		}
		tiers[keys.Tier(name)] = l
	}
	out := struct {
		Listen         string                `toml:"listen"`
		Database       string                `toml:"database"`
		Environment    string                `toml:"environment"`
		Pepper         string                `toml:"pepper"`
		CacheTTL       string                `toml:"cache_ttl"`
		LogFormat      string                `toml:"log_format"`
		LookupRate     string                `toml:"lookup_rate"`
		RedisURL       string                `toml:"redis_url"`
		TrustedProxies []string              `toml:"trusted_proxies"`
		CORS           corsConfig            `toml:"cors"`
		Demo           demoConfig            `toml:"demo"`
		Sessions       map[string]string     `toml:"sessions"`
		Tiers          map[string]tierConfig `toml:"tiers"`
	}{
		Listen: c.Listen, Database: redactDSN(c.Database), Environment: c.Environment,
		Pepper: redacted(c.pepper != "", c.pepperFrom), CacheTTL: c.CacheTTL, LookupRate: c.LookupRate, LogFormat: c.LogFormat, RedisURL: redactURL(c.RedisURL),
		TrustedProxies: c.TrustedProxies, CORS: c.CORS, Demo: c.Demo,
		Sessions: map[string]string{
			"secret": redacted(c.Sessions.secret != "", secretFrom), "jwks_url": c.Sessions.JWKSURL,
			"issuer": c.Sessions.Issuer, "audience": c.Sessions.Audience, "type": c.Sessions.Type,
			"account_claim": c.Sessions.AccountClaim,
		},
		Tiers: map[string]tierConfig{},
	}
	if out.Environment == "" {
		out.Environment = "live"
	}
	if out.Demo.Account == "" {
		out.Demo.Account = demoAccount
	}
	if out.Sessions["account_claim"] == "" {
		out.Sessions["account_claim"] = "sub"
	}
	for name, l := range tiers {
		out.Tiers[string(name)] = tierConfig{RequestsPerMinute: l.RequestsPerMinute, RequestsPerMonth: l.RequestsPerMonth}
	}
	return toml.NewEncoder(w).Encode(out)
}

// redactURL hides a password in a URL such as redis://:pw@host.
func redactURL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable; redacted)"
	}
	return u.Redacted()
}

// jsonPaths answers a path the mux would redirect (not clean, or a
// subtree's root without its slash) with the JSON 404 itself: the mux's
// redirects carry an HTML body, and none of those paths is served anyway.
func jsonPaths(subtrees []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if p == "" || p[0] != '/' || clean != p || slices.Contains(subtrees, p) {
			notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
