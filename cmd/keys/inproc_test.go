package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs the CLI in this process with $KEYS_DB = db (unless empty)
// and the given standard input, and returns its exit status and output.
func runIn(t *testing.T, db, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runEnv(t, map[string]string{"KEYS_DB": db}, stdin, args...)
}

// runEnv is runIn with the given environment variables.
func runEnv(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := run(ctx, args, e)
	return code, stdout.String(), stderr.String()
}

// mustRun runs a command that must succeed and returns its output.
func mustRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	code, out, errOut := runIn(t, db, "", args...)
	if code != 0 {
		t.Fatalf("keys %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// newDB returns the path of a database holding the verified account a1
// with a root key and one child, and the child's key ID.
func newDB(t *testing.T) (db, childID string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "keys.db")
	mustRun(t, db, "account", "create", "-id", "a1", "-tier", "pro", "-verified")
	mustRun(t, db, "reissue", "-account", "a1")
	out := mustRun(t, db, "child", "-account", "a1", "-json")
	i := strings.Index(out, `"id": "`)
	if i < 0 {
		t.Fatalf("child output: %s", out)
	}
	return db, out[i+7 : i+7+36]
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
