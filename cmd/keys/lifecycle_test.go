package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs the CLI in this process against db and returns the exit
// status, standard output and standard error.
func runIn(t *testing.T, db string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(k string) string {
			if k == "KEYS_DB" {
				return db
			}
			return ""
		}}
	code := run(context.Background(), args, e)
	return code, out.String(), errOut.String()
}

func mustRunJSON(t *testing.T, db string, v any, args ...string) {
	t.Helper()
	code, out, errOut := runIn(t, db, append(args, "-json")...)
	if code != 0 {
		t.Fatalf("keys %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("keys %v: %v\n%s", args, err, out)
	}
}

func TestCLILifecycle(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	for _, args := range [][]string{{"account", "create", "-id", "acct_1", "-tier", "pro"}, {"account", "verify", "-id", "acct_1"}} {
		if code, _, errOut := runIn(t, db, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	var first, child, second map[string]any
	mustRunJSON(t, db, &first, "reissue", "-account", "acct_1", "-if-root", "none")
	mustRunJSON(t, db, &child, "child", "-account", "acct_1", "-scope", "prices:read", "-scope", "orders:read",
		"-meta", "project=p1", "-meta", "team=a=b", "-allow-net", "10.0.0.0/8", "-allow-net", "192.0.2.7")
	mustRunJSON(t, db, &second, "reissue", "-account", "acct_1", "-grace", "24h")

	var shown map[string]any
	mustRunJSON(t, db, &shown, "show", "-id", child["id"].(string))
	if got, _ := json.Marshal([]any{shown["scopes"], shown["metadata"], shown["allowed_networks"], shown["status"]}); string(got) !=
		`[["orders:read","prices:read"],{"project":"p1","team":"a=b"},["10.0.0.0/8","192.0.2.7/32"],"retiring"]` {
		t.Fatalf("show: %s", got)
	}
	code, out, _ := runIn(t, db, "list", "-account", "acct_1")
	if code != 0 || !strings.Contains(out, "SCOPES") || !strings.Contains(out, "orders:read,prices:read") ||
		!strings.Contains(out, "10.0.0.0/8,192.0.2.7/32") || !strings.Contains(out, `project="p1"`) || !strings.Contains(out, "retiring") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	// A first-key reissue on an account with a root is refused.
	if code, _, errOut := runIn(t, db, "reissue", "-account", "acct_1", "-if-root", "none"); code != 1 || !strings.Contains(errOut, "root key has changed") {
		t.Fatalf("reissue -if-root none with a root: %d %s", code, errOut)
	}

	// Bad input: exit 2, nothing written.
	for _, args := range [][]string{
		{"reissue", "-account", "acct_1", "-grace", "-1s"},
		{"reissue", "-account", "acct_1", "-grace", "169h"},
		{"reissue", "-account", "acct_1", "-grace", "soon"},
		{"reissue", "-account", "acct_1", "-if-root", "nope"},
		{"child", "-account", "acct_1", "-scope", "Bad Scope"},
		{"child", "-account", "acct_1", "-meta", "novalue"},
		{"child", "-account", "acct_1", "-meta", "a=1", "-meta", "a=2"},
		{"child", "-account", "acct_1", "-meta", "bad key=v"},
		{"child", "-account", "acct_1", "-allow-net", "10.0.0.0/33"},
		{"child", "-account", "acct_1", "-allow-net", "example.com"},
	} {
		if code, _, errOut := runIn(t, db, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	var ks []map[string]any
	mustRunJSON(t, db, &ks, "list", "-account", "acct_1")
	if len(ks) != 3 {
		t.Fatalf("%d keys after refused commands, want 3", len(ks))
	}
}
