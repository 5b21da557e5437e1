package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/keyward/keys"
)

// config is every setting of serve and the operator CLI. Each comes from,
// in rising priority: its default, the -config file (TOML, keys.example.toml
// documents every key), an environment variable, a flag. Secrets (the
// pepper, the HS256 session secret) come only from the environment or a
// file named in the config, never inline, and -print-config redacts them.
type config struct {
	Listen      string `toml:"listen"`      // $KEYS_LISTEN, -addr
	Database    string `toml:"database"`    // $KEYS_DB, -db
	Environment string `toml:"environment"` // $KEYS_ENVIRONMENT: live or test
	PepperFile  string `toml:"pepper_file"` // $KEYS_PEPPER_FILE; or the pepper itself in $KEYS_PEPPER
	CacheTTL    string `toml:"cache_ttl"`   // $KEYS_CACHE_TTL, -cache-ttl
	LogFormat   string `toml:"log_format"`  // $KEYS_LOG_FORMAT, -log-format: text or json
	LookupRate  string `toml:"lookup_rate"` // $KEYS_LOOKUP_RATE, -lookup-rate: keys.Config.LookupRate

	// RedisURL is the Redis that shares rate limits between servers
	// ($KEYS_REDIS_URL, -redis where that flag exists). serve does not
	// connect it here: the Redis limiter's wiring reads this field.
	RedisURL string `toml:"redis_url"`

	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For names the client ($KEYS_TRUSTED_PROXIES, comma-separated).
	TrustedProxies []string `toml:"trusted_proxies"`

	CORS     corsConfig            `toml:"cors"`
	Demo     demoConfig            `toml:"demo"`
	Sessions sessionsConfig        `toml:"sessions"`
	Tiers    map[string]tierConfig `toml:"tiers"` // $KEYS_TIERS="pro=300/500000,free=60/10000"

	// pepper and secret are read from the environment or their files.
	pepper, pepperFrom string
}

type corsConfig struct {
	// Origins may call the account routes from a browser; they are also
	// the trusted origins of the cross-origin protection
	// ($KEYS_CORS_ORIGINS, comma-separated; -cors-origins).
	Origins []string `toml:"origins"`
}

type demoConfig struct {
	Mode    string `toml:"mode"`    // $KEYS_DEMO, -demo: auto, true or false
	Account string `toml:"account"` // $KEYS_DEMO_ACCOUNT; default "demo"
}

type sessionsConfig struct {
	SecretFile   string `toml:"secret_file"`   // HS256 secret file; or $KEYS_JWT_SECRET / -jwt-secret
	JWKSURL      string `toml:"jwks_url"`      // $KEYS_JWKS_URL, -jwks-url
	Issuer       string `toml:"issuer"`        // $KEYS_JWT_ISSUER, -jwt-issuer
	Audience     string `toml:"audience"`      // $KEYS_JWT_AUDIENCE, -jwt-audience
	Type         string `toml:"type"`          // $KEYS_JWT_TYPE, -jwt-type ("at+jwt")
	AccountClaim string `toml:"account_claim"` // $KEYS_JWT_ACCOUNT_CLAIM, -jwt-account-claim; default "sub"

	secret string
}

type tierConfig struct {
	RequestsPerMinute int   `toml:"requests_per_minute"`
	RequestsPerMonth  int64 `toml:"requests_per_month"`
}

// loadConfig reads the file at path ("" = none) and lays the environment
// over it.
func loadConfig(path string, getenv func(string) string) (*config, error) {
	cfg := &config{}
	if path != "" {
		md, err := toml.DecodeFile(path, cfg)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			k := und[0].String()
			if k == "pepper" || k == "sessions.secret" {
				return nil, fmt.Errorf("config %s: %s may not be written in the file: name a file holding it (%s_file) or set it in the environment", path, k, k)
			}
			return nil, fmt.Errorf("config %s: unknown key %q (keys.example.toml lists them all)", path, k)
		}
	}
	for _, s := range []struct {
		dst *string
		env string
	}{
		{&cfg.Listen, "KEYS_LISTEN"},
		{&cfg.Database, "KEYS_DB"},
		{&cfg.Environment, "KEYS_ENVIRONMENT"},
		{&cfg.PepperFile, "KEYS_PEPPER_FILE"},
		{&cfg.CacheTTL, "KEYS_CACHE_TTL"},
		{&cfg.LogFormat, "KEYS_LOG_FORMAT"},
		{&cfg.LookupRate, "KEYS_LOOKUP_RATE"},
		{&cfg.RedisURL, "KEYS_REDIS_URL"},
		{&cfg.Demo.Mode, "KEYS_DEMO"},
		{&cfg.Demo.Account, "KEYS_DEMO_ACCOUNT"},
		{&cfg.Sessions.SecretFile, "KEYS_JWT_SECRET_FILE"},
		{&cfg.Sessions.JWKSURL, "KEYS_JWKS_URL"},
		{&cfg.Sessions.Issuer, "KEYS_JWT_ISSUER"},
		{&cfg.Sessions.Audience, "KEYS_JWT_AUDIENCE"},
		{&cfg.Sessions.Type, "KEYS_JWT_TYPE"},
		{&cfg.Sessions.AccountClaim, "KEYS_JWT_ACCOUNT_CLAIM"},
	} {
		if v := getenv(s.env); v != "" {
			*s.dst = v
		}
	}
	if v := getenv("KEYS_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = splitList(v)
	}
	if v := getenv("KEYS_CORS_ORIGINS"); v != "" {
		cfg.CORS.Origins = splitList(v)
	}
	if v := getenv("KEYS_TIERS"); v != "" {
		if err := cfg.parseTiersEnv(v); err != nil {
			return nil, err
		}
	}
	if err := cfg.readSecrets(getenv); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readSecrets reads the pepper and the HS256 secret from the environment
// or their files, refusing both at once: two sources of a pepper is one
// too many, since the wrong one silently invalidates every key.
func (c *config) readSecrets(getenv func(string) string) error {
	p, err := secretFrom("pepper", getenv("KEYS_PEPPER"), "$KEYS_PEPPER", c.PepperFile)
	if err != nil {
		return err
	}
	c.pepper = p
	switch {
	case getenv("KEYS_PEPPER") != "":
		c.pepperFrom = "$KEYS_PEPPER"
	case c.PepperFile != "":
		c.pepperFrom = c.PepperFile
	}
	s, err := secretFrom("session secret", getenv("KEYS_JWT_SECRET"), "$KEYS_JWT_SECRET", c.Sessions.SecretFile)
	if err != nil {
		return err
	}
	c.Sessions.secret = s
	return nil
}

func secretFrom(what, env, envName, file string) (string, error) {
	if env != "" && file != "" {
		return "", fmt.Errorf("the %s is set both in %s and in the file %s: set one", what, envName, file)
	}
	if file == "" {
		return env, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n") // a file written by echo
	if s == "" {
		return "", fmt.Errorf("the %s file %s is empty", what, file)
	}
	return s, nil
}

// parseTiersEnv reads $KEYS_TIERS: name=rpm/quota pairs, comma-separated,
// over the file's tiers.
func (c *config) parseTiersEnv(v string) error {
	if c.Tiers == nil {
		c.Tiers = map[string]tierConfig{}
	}
	for _, item := range splitList(v) {
		name, limits, ok := strings.Cut(item, "=")
		rpm, quota, ok2 := strings.Cut(limits, "/")
		r, err1 := strconv.Atoi(strings.TrimSpace(rpm))
		q, err2 := strconv.ParseInt(strings.TrimSpace(quota), 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil || strings.TrimSpace(name) == "" {
			return fmt.Errorf("$KEYS_TIERS: %q is not name=requests_per_minute/requests_per_month", item)
		}
		c.Tiers[strings.TrimSpace(name)] = tierConfig{RequestsPerMinute: r, RequestsPerMonth: q}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// flagBindings pairs flags with config fields. A flag given on the command
// line wins; otherwise a value from the file or the environment is set
// into the flag; otherwise the flag's default goes into the config. A
// binding whose flag a command does not define is skipped, so commands
// share one table.
func (c *config) flagBindings() []struct {
	flag string
	dst  *string
} {
	return []struct {
		flag string
		dst  *string
	}{
		{"addr", &c.Listen},
		{"db", &c.Database},
		{"env", &c.Environment},
		{"cache-ttl", &c.CacheTTL},
		{"log-format", &c.LogFormat},
		{"lookup-rate", &c.LookupRate},
		{"redis", &c.RedisURL},
		{"demo", &c.Demo.Mode},
		{"jwt-secret", &c.Sessions.secret},
		{"jwks-url", &c.Sessions.JWKSURL},
		{"jwt-issuer", &c.Sessions.Issuer},
		{"jwt-audience", &c.Sessions.Audience},
		{"jwt-type", &c.Sessions.Type},
		{"jwt-account-claim", &c.Sessions.AccountClaim},
	}
}

// applyConfig loads the configuration named by the command's -config flag
// (or $KEYS_CONFIG) and the environment, merges it with the flags given,
// and keeps it in e for the command. It runs once the flags are parsed.
func applyConfig(fs *flag.FlagSet, e *env) error {
	path := e.getenv("KEYS_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		path = f.Value.String()
	}
	cfg, err := loadConfig(path, e.getenv)
	if err != nil {
		return usageError{err.Error()}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, b := range cfg.flagBindings() {
		f := fs.Lookup(b.flag)
		switch {
		case f == nil:
		case set[b.flag]:
			*b.dst = f.Value.String()
		case b.flag == "demo" && *b.dst == "auto" && isBoolFlag(f):
			// A boolean -demo: "auto" is its default behaviour. (A
			// failed Set would have cleared it.)
		case *b.dst != "":
			if err := fs.Set(b.flag, *b.dst); err != nil {
				return usagef("%s (from the config or environment): %v", b.flag, err)
			}
		default:
			*b.dst = f.Value.String()
		}
	}
	for name, dst := range map[string]*[]string{"cors-origins": &cfg.CORS.Origins, "trusted-proxies": &cfg.TrustedProxies} {
		if f := fs.Lookup(name); f != nil && set[name] {
			*dst = splitList(f.Value.String())
		}
	}
	if err := cfg.check(); err != nil {
		return usageError{err.Error()}
	}
	if cfg.Demo.Account == "" {
		cfg.Demo.Account = demoAccount
	}
	e.conf = cfg
	return nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// check refuses settings that cannot work, before anything is opened.
func (c *config) check() error {
	if c.Environment != "" && c.Environment != "live" && c.Environment != "test" {
		return fmt.Errorf("-env %q: want live or test (from -env, $KEYS_ENVIRONMENT or the config's environment)", c.Environment)
	}
	if c.CacheTTL != "" {
		if _, err := time.ParseDuration(c.CacheTTL); err != nil {
			return fmt.Errorf("cache_ttl %q: want a duration such as 5s", c.CacheTTL)
		}
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("log format %q: want text or json (from -log-format, $KEYS_LOG_FORMAT or the config's log_format)", c.LogFormat)
	}
	if c.LookupRate != "" {
		if _, err := strconv.Atoi(c.LookupRate); err != nil {
			return fmt.Errorf("lookup_rate %q: want a whole number of lookups per second, such as 100 (negative: no budget)", c.LookupRate)
		}
	}
	switch c.Demo.Mode {
	case "", "auto", "true", "false":
	default:
		return fmt.Errorf("demo mode %q: want auto, true or false", c.Demo.Mode)
	}
	if _, err := c.proxyPrefixes(); err != nil {
		return err
	}
	for _, o := range c.CORS.Origins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("cors origin %q: want scheme://host[:port] or *", o)
		}
	}
	s := c.Sessions
	if s.secret != "" && s.JWKSURL != "" {
		return errors.New("sessions: set either an HS256 secret or a JWKS URL, not both")
	}
	if s.JWKSURL != "" && (s.Issuer == "" || s.Audience == "") {
		return errors.New("sessions: a JWKS URL needs an issuer and an audience (a provider's keys sign tokens for every application it serves)")
	}
	for name, t := range c.Tiers {
		if t.RequestsPerMinute < 0 || t.RequestsPerMonth < 0 {
			return fmt.Errorf("tier %q: limits must be positive", name)
		}
	}
	return nil
}

// proxyPrefixes parses TrustedProxies; a bare address is a one-address
// prefix.
func (c *config) proxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// keysConfig applies the settings the Manager takes (tiers, environment,
// pepper) to cfg: the server and the CLI read the same, so an operator
// never sees limits the server does not apply.
func (c *config) keysConfig(cfg *keys.Config) {
	if c == nil {
		return
	}
	if len(c.Tiers) > 0 {
		cfg.Tiers = make(map[keys.Tier]keys.Limits, len(c.Tiers))
		for name, t := range c.Tiers {
			cfg.Tiers[keys.Tier(name)] = keys.Limits{RequestsPerMinute: t.RequestsPerMinute, RequestsPerMonth: t.RequestsPerMonth}
		}
	}
	cfg.Environment = c.Environment
	if c.pepper != "" {
		cfg.Pepper = []byte(c.pepper)
	}
}
