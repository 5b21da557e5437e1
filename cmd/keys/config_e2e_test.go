package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cleanEnv is the environment without any KEYS_ variable, as on a fresh
// machine.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYS_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// From a fresh clone: `keys serve -config keys.example.toml` in an empty
// directory starts, creates its database there, prints the demo key, and
// answers every path with JSON; the CLI reads the same file.
func TestServeExampleConfigFromEmptyDir(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "keys.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys.toml"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "-config", "keys.toml", "-addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = dir, cleanEnv()
	srv := startServer(t, cmd)
	if srv.secret == "" {
		t.Fatalf("no demo key printed; stderr:\n%s", srv.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.db")); err != nil {
		t.Fatalf("the example's database is not in the working directory: %v", err)
	}
	if code, body := call(t, "GET", srv.base+"/account/key", srv.secret); code != 200 {
		t.Fatalf("GET /account/key: %d %v", code, body)
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/nope"}, {"GET", "/v1/nope"}, {"POST", "/v1/ping"},
		{"GET", "/account"}, {"GET", "/account/nope"}, {"GET", "/v1//ping"}, {"DELETE", "/account/key"},
	} {
		code, body := call(t, p.method, srv.base+p.path, "")
		if code < 400 || errorCode(body) == "" {
			t.Errorf("%s %s: %d %v, want a JSON error", p.method, p.path, code, body)
		}
	}
	srv.stop(t)

	code, out, errOut := func() (int, string, string) {
		c := exec.Command(binary, "account", "show", "-config", "keys.toml", "-id", "demo", "-json")
		c.Dir, c.Env = dir, cleanEnv()
		b, err := c.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(b), string(ee.Stderr)
		}
		return 0, string(b), ""
	}()
	if code != 0 || !strings.Contains(out, `"rate_requests_per_minute": 300`) {
		t.Fatalf("keys account show with the example config: exit %d\n%s%s", code, out, errOut)
	}
}

// keys serve with a login provider's JWKS: a token signed by hand with a
// published Ed25519 key (alg "Ed25519") reissues the key; one for another
// audience does not.
func TestServeJWKSSessions(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig","x":%q}]}`, b64(pub))
	}))
	defer jwks.Close()
	token := func(aud string) string {
		in := b64([]byte(`{"alg":"Ed25519","kid":"k1","typ":"JWT"}`)) + "." +
			b64([]byte(fmt.Sprintf(`{"sub":"demo","iss":"https://login.example/","aud":%q,"exp":%d}`, aud, time.Now().Add(time.Hour).Unix())))
		return in + "." + b64(ed25519.Sign(priv, []byte(in)))
	}
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "keys.db"), "-cache-ttl", "200ms")
	cmd.Env = cleanEnv("KEYS_JWKS_URL="+jwks.URL, "KEYS_JWT_ISSUER=https://login.example/", "KEYS_JWT_AUDIENCE=keys-api")
	srv := startServer(t, cmd)
	if code, body := call(t, "POST", srv.base+"/account/key/reissue", token("keys-api")); code != 200 {
		t.Fatalf("reissue by a JWKS session: %d %v\n%s", code, body, srv.stderr)
	}
	if code, body := call(t, "GET", srv.base+"/account/key", token("other-api")); code != 401 || errorCode(body) != "invalid_session" {
		t.Fatalf("another audience: %d %v", code, body)
	}
	srv.stop(t)
}
