package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the keys command built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keys-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keys")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building keys: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary and returns its exit status, standard output and
// standard error.
func cli(t *testing.T, db, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "KEYS_DB="+db)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("running keys %v: %v", args, err)
		return 0, "", ""
	}
}

// cliJSON runs a command that must succeed with -json and decodes its
// output into v.
func cliJSON(t *testing.T, db string, v any, args ...string) {
	t.Helper()
	code, out, errOut := cli(t, db, "", append(args, "-json")...)
	if code != 0 {
		t.Fatalf("keys %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("keys %v: output is not JSON: %v\n%s", args, err, out)
	}
}

type server struct {
	cmd    *exec.Cmd
	base   string
	secret string
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer that a reading goroutine fills while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	listening = regexp.MustCompile(`^Listening on (http://\S+)`)
	demoKey   = regexp.MustCompile(`^\s+(sk_live_\S+)$`)
)

// serve starts `keys serve` on a free port and waits until it listens.
func serve(t *testing.T, db string, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "-addr", "127.0.0.1:0", "-db", db, "-cache-ttl", "200ms"}, extra...)...)
	return startServer(t, cmd)
}

// startServer starts cmd (a `keys serve`) and waits until it listens.
func startServer(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrR, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	// The demo key, if any, is printed before the line saying where the
	// server listens.
	type started struct{ base, secret string }
	ready := make(chan started, 1)
	go func() {
		var st started
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := demoKey.FindStringSubmatch(sc.Text()); m != nil {
				st.secret = m[1]
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				st.base = m[1]
				ready <- st
			}
		}
	}()
	go func() {
		io.Copy(s.stderr, stderrR)
		s.done <- cmd.Wait()
	}()
	select {
	case st := <-ready:
		s.base, s.secret = st.base, st.secret
	case err := <-s.done:
		t.Fatalf("keys serve exited: %v; stderr:\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("keys serve did not start; stderr:\n%s", s.stderr)
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("keys serve exited with %v; stderr:\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("keys serve did not stop after SIGTERM")
	}
	if strings.Contains(s.stderr.String(), "sk_live_") {
		t.Fatal("the server logged a token")
	}
}

func call(t *testing.T, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, body
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// eventually polls check until it returns true or a deadline passes: for
// changes made by another process, which the server sees within its cache
// TTL (200ms here).
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	srv := serve(t, db)
	if srv.secret == "" {
		t.Fatal("serve on an empty database printed no demo key")
	}
	root := srv.secret

	// GET /account/key with the demo root key.
	code, body := call(t, "GET", srv.base+"/account/key", root)
	if code != 200 {
		t.Fatalf("GET /account/key: %d %v", code, body)
	}
	key := body["key"].(map[string]any)
	if len(key) != 13 || key["key_prefix"] != "sk_live_root" || key["is_root_key"] != true {
		t.Fatalf("GET /account/key body = %v", body)
	}
	rootID := key["id"].(string)

	// Operator commands on the same database while the server runs.
	var acct map[string]any
	cliJSON(t, db, &acct, "account", "create", "-id", "acme", "-tier", "starter", "-verified")
	if acct["tier"] != "starter" || acct["email_verified"] != true {
		t.Fatalf("account create = %v", acct)
	}
	var child map[string]any
	cliJSON(t, db, &child, "child", "-account", "demo", "-name", "ci", "-expires", "720h", "-rpm", "100", "-quota", "1000")
	childSecret := child["key"].(string)
	if child["key_prefix"] != "sk_live_child" || !strings.HasPrefix(childSecret, "sk_live_") {
		t.Fatalf("child = %v", child)
	}
	code, body = call(t, "GET", srv.base+"/v1/ping", childSecret)
	if code != 200 || body["key_id"] != child["id"] || body["quota_remaining"] != float64(999) {
		t.Fatalf("GET /v1/ping with the child: %d %v", code, body)
	}
	var listed []map[string]any
	cliJSON(t, db, &listed, "list", "-account", "demo")
	if len(listed) != 2 {
		t.Fatalf("list = %d keys, want 2", len(listed))
	}

	// Reissue over HTTP revokes the child at once.
	code, body = call(t, "POST", srv.base+"/account/key/reissue", root)
	if code != 200 || !strings.HasPrefix(body["key"].(string), "sk_live_") {
		t.Fatalf("POST /account/key/reissue: %d %v", code, body)
	}
	newRoot := body["key"].(string)
	for _, tok := range []string{childSecret, root} {
		if code, body := call(t, "GET", srv.base+"/account/key", tok); code != 401 || errorCode(body) != "key_revoked" {
			t.Fatalf("old key after reissue: %d %v", code, body)
		}
	}

	// inspect reads the token from standard input.
	code, out, errOut := cli(t, db, childSecret+"\n", "inspect", "-json")
	var inspected map[string]any
	if code != 1 || json.Unmarshal([]byte(out), &inspected) != nil || inspected["status"] != "revoked" ||
		!strings.Contains(errOut, "revoked") {
		t.Fatalf("inspect of the revoked child: exit %d, %q, %q", code, out, errOut)
	}
	code, out, _ = cli(t, db, newRoot, "inspect")
	if code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("inspect of the new root: exit %d, %q", code, out)
	}

	// Reissue from the CLI: the server sees it within its cache TTL.
	var reissued map[string]any
	cliJSON(t, db, &reissued, "reissue", "-account", "demo")
	eventually(t, "root reissued by the CLI refused by the server", func() bool {
		code, body := call(t, "GET", srv.base+"/account/key", newRoot)
		return code == 401 && errorCode(body) == "key_revoked"
	})
	latest := reissued["key"].(string)
	if code, _ := call(t, "GET", srv.base+"/v1/ping", latest); code != 200 {
		t.Fatalf("the CLI's new root: %d", code)
	}
	var revoked map[string]any
	cliJSON(t, db, &revoked, "revoke", "-id", reissued["id"].(string))
	if revoked["status"] != "revoked" {
		t.Fatalf("revoke = %v", revoked)
	}

	// SIGTERM: a clean stop that flushes last-used times.
	srv.stop(t)
	var shown map[string]any
	cliJSON(t, db, &shown, "show", "-id", reissued["id"].(string))
	if shown["last_used_at"] == nil {
		t.Fatalf("last_used_at not flushed on shutdown: %v", shown)
	}
	cliJSON(t, db, &shown, "show", "-id", rootID)
	if shown["last_used_at"] == nil || shown["status"] != "revoked" {
		t.Fatalf("first root after shutdown: %v", shown)
	}

	// A restart over the same database prints no key again.
	again := serve(t, db)
	if again.secret != "" {
		t.Fatal("a second start printed a demo key again")
	}
	again.stop(t)
}

func TestBadUsage(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	if code, _, errOut := cli(t, db, "", "account", "create", "-id", "a1", "-verified"); code != 0 {
		t.Fatalf("setup: %s", errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"account"}, "account needs a subcommand"},
		{[]string{"account", "delete", "-id", "x"}, "unknown account command"},
		{[]string{"account", "create"}, "-id is required"},
		{[]string{"account", "create", "-id", "x", "-tier", "gold"}, `-tier "gold"`},
		{[]string{"account", "tier", "-id", "a1", "-tier", "platinum"}, `-tier "platinum"`},
		{[]string{"account", "create", "-id"}, "flag needs an argument"},
		{[]string{"child"}, "-account is required"},
		{[]string{"child", "-account", "a1", "-expires", "soon"}, `-expires "soon"`},
		{[]string{"child", "-account", "a1", "-expires", "-5m"}, `-expires "-5m"`},
		{[]string{"child", "-account", "a1", "-rpm", "many"}, "invalid value"},
		{[]string{"child", "-account", "a1", "-quota", "-3"}, "-quota -3"},
		{[]string{"revoke", "-id", "not-a-uuid"}, "not a key ID"},
		{[]string{"show"}, "-id is required"},
		{[]string{"list", "-account", "a1", "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "-addr"}, "flag needs an argument"},
		{[]string{"inspect"}, "got none"},
	} {
		code, _, errOut := cli(t, db, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "panic") {
			t.Errorf("keys %v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
	// Failed operations exit 1 with one line.
	for _, args := range [][]string{
		{"account", "show", "-id", "nobody"},
		{"account", "create", "-id", "a1"},
		{"child", "-account", "a1"}, // no root key yet
		{"revoke", "-id", "0190a0a0-0000-7000-8000-000000000000"},
	} {
		code, _, errOut := cli(t, db, "", args...)
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("keys %v: exit %d, stderr %q; want exit 1 and one line", args, code, errOut)
		}
	}
	if code, out, _ := cli(t, db, "", "help"); code != 0 || !strings.Contains(out, "keys inspect") {
		t.Errorf("help: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "missing", "dir", "keys.db")
	if code, _, errOut := cli(t, bad, "", "list", "-account", "a1"); code != 1 || errOut == "" {
		t.Errorf("a database in a missing directory: exit %d, %q", code, errOut)
	}
}
