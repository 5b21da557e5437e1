package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keys"
)

// serveFlagSet is serve's flag set, as cmdServe defines it.
func serveFlagSet(e *env) *flag.FlagSet {
	fs, _ := newFlags(e, "serve")
	fs.String("addr", "127.0.0.1:8080", "")
	fs.String("jwt-secret", e.getenv("KEYS_JWT_SECRET"), "")
	fs.Bool("demo", true, "")
	fs.Duration("cache-ttl", keys.DefaultCacheTTL, "")
	addServeFlags(fs)
	return fs
}

func testEnv(vars map[string]string) *env {
	var out bytes.Buffer
	return &env{stdout: &out, stderr: &out, getenv: func(k string) string { return vars[k] }}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Defaults < file < environment < flags, setting by setting.
func TestConfigPriority(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "keys.toml", `
listen = "127.0.0.1:1111"
database = "file.db"
cache_ttl = "7s"
environment = "test"
[sessions]
jwks_url = "https://file.example/jwks"
issuer = "https://file.example/"
audience = "file-aud"
[cors]
origins = ["https://file.example"]
[tiers.pro]
requests_per_minute = 10
[tiers.gold]
requests_per_minute = 5
requests_per_month = 50
`)
	e := testEnv(map[string]string{
		"KEYS_CONFIG":       cfgPath,
		"KEYS_CACHE_TTL":    "9s",
		"KEYS_JWT_AUDIENCE": "env-aud",
		"KEYS_TIERS":        "gold=6/60",
	})
	fs := serveFlagSet(e)
	if err := parse(fs, e, []string{"-addr", "127.0.0.1:3333", "-jwt-issuer", "https://flag.example/"}); err != nil {
		t.Fatal(err)
	}
	c := e.conf
	for name, got := range map[string][2]string{
		"listen (flag)":     {c.Listen, "127.0.0.1:3333"},
		"database (file)":   {c.Database, "file.db"},
		"cache_ttl (env)":   {c.CacheTTL, "9s"},
		"issuer (flag)":     {c.Sessions.Issuer, "https://flag.example/"},
		"audience (env)":    {c.Sessions.Audience, "env-aud"},
		"jwks_url (file)":   {c.Sessions.JWKSURL, "https://file.example/jwks"},
		"environment(file)": {c.Environment, "test"},
		"demo (default)":    {c.Demo.Mode, "true"},
		"-db flag value":    {fs.Lookup("db").Value.String(), "file.db"},
		"-cache-ttl value":  {fs.Lookup("cache-ttl").Value.String(), "9s"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	var kc keys.Config
	c.keysConfig(&kc)
	if kc.Environment != "test" || kc.Tiers["gold"] != (keys.Limits{RequestsPerMinute: 6, RequestsPerMonth: 60}) ||
		kc.Tiers[keys.Pro].RequestsPerMinute != 10 {
		t.Errorf("keys.Config = %+v", kc)
	}
	if got := c.trustedOrigins(); len(got) != 1 || got[0] != "https://file.example" {
		t.Errorf("trusted origins %v", got)
	}
}

func TestConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	pepperFile := writeFile(t, dir, "pepper", "s3cret\n")
	empty := writeFile(t, dir, "empty", "\n")
	tests := map[string]struct {
		file string
		env  map[string]string
		args []string
	}{
		"inline pepper":            {file: `pepper = "x"`},
		"inline session secret":    {file: "[sessions]\nsecret = \"x\""},
		"unknown key":              {file: `lisen = "x"`},
		"not TOML":                 {file: `listen = `},
		"pepper twice":             {file: `pepper_file = "` + pepperFile + `"`, env: map[string]string{"KEYS_PEPPER": "p"}},
		"empty pepper file":        {file: `pepper_file = "` + empty + `"`},
		"missing pepper file":      {file: `pepper_file = "/nonexistent/pepper"`},
		"JWKS without an issuer":   {args: []string{"-jwks-url", "https://x.example/jwks", "-jwt-audience", "a"}},
		"JWKS without an audience": {env: map[string]string{"KEYS_JWKS_URL": "https://x.example/jwks", "KEYS_JWT_ISSUER": "i"}},
		"secret and JWKS":          {env: map[string]string{"KEYS_JWT_SECRET": strings.Repeat("s", 32), "KEYS_JWKS_URL": "https://x", "KEYS_JWT_ISSUER": "i", "KEYS_JWT_AUDIENCE": "a"}},
		"bad proxy":                {args: []string{"-trusted-proxies", "10.0.0.0/8,not-a-cidr"}},
		"bad origin":               {file: "[cors]\norigins = [\"app.example.com\"]"},
		"bad environment":          {env: map[string]string{"KEYS_ENVIRONMENT": "prod"}},
		"bad cache_ttl":            {file: `cache_ttl = "soon"`},
		"bad KEYS_TIERS":           {env: map[string]string{"KEYS_TIERS": "pro=300"}},
		"bad demo mode":            {file: "[demo]\nmode = \"maybe\""},
		"missing config":           {args: []string{"-config", filepath.Join(dir, "nope.toml")}},
		"negative tier":            {file: "[tiers.pro]\nrequests_per_minute = -1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range tt.env {
				vars[k] = v
			}
			if tt.file != "" {
				vars["KEYS_CONFIG"] = writeFile(t, t.TempDir(), "keys.toml", tt.file)
			}
			e := testEnv(vars)
			err := parse(serveFlagSet(e), e, tt.args)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := err.(usageError); !ok {
				t.Fatalf("%v is not a usage error", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatal("the error shows the pepper")
			}
		})
	}
}

func TestPrintConfigRedacts(t *testing.T) {
	dir := t.TempDir()
	pepper := writeFile(t, dir, "pepper", "pepper-value-1234\n")
	e := testEnv(map[string]string{
		"KEYS_CONFIG":     writeFile(t, dir, "keys.toml", `pepper_file = "`+pepper+`"`+"\nredis_url = \"redis://:redis-pw@cache:6379/0\"\n"),
		"KEYS_JWT_SECRET": "jwt-secret-0123456789abcdef0123456789",
		"KEYS_DB":         "postgres://app:db-pw@db/keys",
	})
	fs := serveFlagSet(e)
	if err := parse(fs, e, []string{"-print-config"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := e.conf.printConfig(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, secret := range []string{"pepper-value", "jwt-secret-0123", "db-pw", "redis-pw"} {
		if strings.Contains(s, secret) {
			t.Errorf("-print-config shows %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{`pepper = "(redacted; from ` + pepper, `[tiers.quant]`, `requests_per_minute = 1200`, `redis_url = "redis://:xxxxx@cache:6379/0"`} {
		if !strings.Contains(s, want) {
			t.Errorf("-print-config lacks %q:\n%s", want, s)
		}
	}
}

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		remote string
		xff    []string
		want   string // "" = not rewritten
	}{
		{"10.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"10.0.0.1:5000", []string{"198.51.100.1, 203.0.113.7, 10.0.0.2"}, "203.0.113.7"}, // the client wrote 198.51.100.1
		{"10.0.0.1:5000", []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},         // two headers are one list
		{"[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"10.0.0.1:5000", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"}, // proxies all the way
		{"203.0.113.9:5000", []string{"198.51.100.1"}, ""},            // not from a trusted proxy
		{"10.0.0.1:5000", []string{"203.0.113.7, garbage"}, ""},
		{"10.0.0.1:5000", nil, ""},
	}
	for _, tt := range tests {
		a, ok := forwardedClient(tt.remote, tt.xff, trusted)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("forwardedClient(%q, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
}

// The CLI applies the config's tiers: a tier that exists only there is
// accepted, and its limits are what the account shows.
func TestCLIReadsConfigTiers(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "keys.toml", "[tiers.gold]\nrequests_per_minute = 7\nrequests_per_month = 70\n")
	db := filepath.Join(dir, "keys.db")
	if code, _, errOut := cli(t, db, "", "account", "create", "-id", "a", "-tier", "gold"); code != 2 {
		t.Fatalf("an unknown tier without the config: exit %d (%s)", code, errOut)
	}
	var acct map[string]any
	cliJSON(t, db, &acct, "account", "create", "-config", cfg, "-id", "a", "-tier", "gold")
	if acct["tier"] != "gold" || acct["rate_requests_per_minute"] != float64(7) {
		t.Fatalf("account = %v", acct)
	}
}

// Browsers on a configured origin may call the account routes; others get
// no CORS headers.
func TestCORS(t *testing.T) {
	c := &config{CORS: corsConfig{Origins: []string{"https://app.example"}}}
	h := c.withCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	for origin, allowed := range map[string]bool{"https://app.example": true, "https://evil.example": false} {
		r := httptest.NewRequest(http.MethodOptions, "/account/key/reissue", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "authorization")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		got := rec.Header().Get("Access-Control-Allow-Origin")
		if (got == origin) != allowed {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", origin, got)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/account/key", nil)
	r.Header.Set("Origin", "https://app.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "X-Ratelimit-Remaining") &&
		!strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
		t.Errorf("rate-limit headers not exposed: %q", rec.Header().Get("Access-Control-Expose-Headers"))
	}
}
