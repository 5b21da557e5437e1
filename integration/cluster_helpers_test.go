package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const redisEnv = "KEYS_TEST_REDIS_URL"

// cluster is a set of `keys serve` processes on one database and Redis.
type cluster struct {
	bin, dsn, redis, config string
	servers                 []*server
}

// server is one running `keys serve`.
type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildKeys builds the keys command once into a directory of t's, never
// into the tree.
func buildKeys(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keys")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/keyward/keys/cmd/keys")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pgFreshDatabase creates a database of t's own, dropped when t ends, and
// returns its name and DSN. A database rather than a schema, so that
// pg_stat_database counts this test's transactions and nothing else.
func pgFreshDatabase(t *testing.T, admin *sql.DB) (name, dsn string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "keys_cluster_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Skipf("cluster test: cannot create a database (%v); it needs CREATEDB on %s", err, dsnEnv)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(pgBaseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return name, u.String()
}

// start runs n servers with extra flags and waits until each listens.
func (c *cluster) start(t *testing.T, n int, extra ...string) {
	t.Helper()
	for range n {
		args := append([]string{"serve", "-config", c.config, "-db", c.dsn, "-addr", "127.0.0.1:0",
			"-redis", c.redis, "-demo", "false"}, extra...)
		cmd := exec.Command(c.bin, args...)
		cmd.Env = cleanEnv()
		s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
		cmd.Stderr = s.stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		listening := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "Listening on "); ok {
					listening <- strings.Fields(rest)[0]
				}
			}
			_, _ = io.Copy(io.Discard, out)
		}()
		go func() { s.done <- cmd.Wait() }()
		select {
		case s.base = <-listening:
		case err := <-s.done:
			t.Fatalf("keys serve exited: %v\n%s", err, s.stderr)
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("keys serve did not listen within 60s\n%s", s.stderr)
		}
		c.servers = append(c.servers, s)
	}
	t.Cleanup(func() { c.stop(t) })
}

// stop ends every server (SIGTERM: a clean shutdown with a final flush)
// and waits for each.
func (c *cluster) stop(t *testing.T) {
	for _, s := range c.servers {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, s := range c.servers {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Errorf("keys serve did not stop within 30s\n%s", s.stderr)
		}
	}
	c.servers = nil
}

// cleanEnv is the environment without KEYS_ settings, so that the flags
// alone configure the servers.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYS_") {
			env = append(env, kv)
		}
	}
	return env
}

var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128},
}

// call sends a request with a bearer token and returns its status and the
// error code of the body, if any.
func call(ctx context.Context, method, u, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	code := ""
	if i := bytes.Index(body, []byte(`"code":"`)); i >= 0 {
		rest := body[i+len(`"code":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			code = string(rest[:j])
		}
	}
	return resp.StatusCode, code, nil
}

// transactions returns the committed and rolled-back transactions of
// database name once every connection to it has closed (a backend flushes
// its statistics when it exits) and the count has settled.
func transactions(t *testing.T, admin *sql.DB, name string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, stable := int64(-1), 0
	for time.Now().Before(deadline) {
		var backends int
		if err := admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name).Scan(&backends); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := admin.QueryRow("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if backends == 0 && n == last {
			if stable++; stable == 3 {
				return n
			}
		} else {
			stable = 0
		}
		last = n
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the statistics of %s did not settle within 30s", name)
	return 0
}

func writeConfig(t *testing.T, tiers map[string][2]int) string {
	t.Helper()
	var b strings.Builder
	for name, l := range tiers {
		fmt.Fprintf(&b, "[tiers.%s]\nrequests_per_minute = %d\nrequests_per_month = %d\n\n", name, l[0], l[1])
	}
	p := filepath.Join(t.TempDir(), "keys.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
