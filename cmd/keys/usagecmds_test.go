package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageAndUpdateCommands runs keys usage and keys update against a
// database a server also uses: requests the server admitted show up in
// keys usage once the server flushed them (on SIGTERM at the latest).
func TestUsageAndUpdateCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	if code, _, errOut := cli(t, db, "", "account", "create", "-id", "acme", "-tier", "pro", "-verified"); code != 0 {
		t.Fatal(errOut)
	}
	var root, child struct {
		Key string `json:"key"`
		ID  string `json:"id"`
	}
	cliJSON(t, db, &root, "reissue", "-account", "acme")
	cliJSON(t, db, &child, "child", "-account", "acme", "-name", "ci")

	s := serve(t, db, "-demo=false")
	for range 3 {
		if code, _ := call(t, http.MethodGet, s.base+"/v1/ping", child.Key); code != 200 {
			t.Fatalf("ping = %d", code)
		}
	}
	s.stop(t) // flushes

	var u struct {
		Month   string `json:"month"`
		Account struct {
			Requests, Quota, Remaining int64
		} `json:"account"`
		Keys []struct {
			ID       string  `json:"id"`
			Name     *string `json:"name"`
			Requests int64   `json:"requests"`
		} `json:"keys"`
	}
	cliJSON(t, db, &u, "usage", "-account", "acme")
	if u.Account.Requests != 3 || u.Account.Quota != 500000 || u.Account.Remaining != 499997 || len(u.Keys) != 2 ||
		u.Keys[1].ID != child.ID || u.Keys[1].Requests != 3 || u.Keys[1].Name == nil || *u.Keys[1].Name != "ci" {
		t.Fatalf("usage = %+v", u)
	}
	code, out, _ := cli(t, db, "", "usage", "-account", "acme")
	if code != 0 || !strings.Contains(out, "REQUESTS") || !strings.Contains(out, child.ID) {
		t.Fatalf("usage table (exit %d):\n%s", code, out)
	}
	cliJSON(t, db, &u, "usage", "-account", "acme", "-month", "2020-01")
	if u.Month != "2020-01" || u.Account.Requests != 0 {
		t.Fatalf("usage of another month = %+v", u)
	}

	var k struct {
		Name *string `json:"name"`
	}
	cliJSON(t, db, &k, "update", "-id", child.ID, "-name", "deploy", "-meta", "team=x")
	if k.Name == nil || *k.Name != "deploy" {
		t.Fatalf("update -name: %+v", k)
	}
	code, out, _ = cli(t, db, "", "update", "-id", child.ID, "-meta", "env=prod")
	if code != 0 || !strings.Contains(out, "meta env=prod") || strings.Contains(out, "team=x") || !strings.Contains(out, "deploy") {
		t.Fatalf("update -meta (exit %d) replaced nothing or lost the name:\n%s", code, out)
	}

	for _, args := range [][]string{
		{"usage"},
		{"usage", "-account", "acme", "-month", "2026-13"},
		{"usage", "-account", "acme", "-month", "26-1"},
		{"update", "-id", child.ID},
		{"update", "-id", "nope", "-name", "x"},
		{"update", "-id", child.ID, "-meta", "novalue"},
		{"update", "-id", child.ID, "-meta", "a=1", "-no-meta"},
	} {
		if code, _, _ := cli(t, db, "", args...); code != 2 {
			t.Errorf("keys %v: exit %d, want 2", args, code)
		}
	}
	// Values the library refuses: exit 1 with its reason.
	code, _, errOut := cli(t, db, "", "update", "-id", child.ID, "-meta", "bad key=1")
	if code == 0 || !strings.Contains(errOut, "metadata") {
		t.Fatalf("bad metadata key: exit %d, %s", code, errOut)
	}
	if code, _, _ := cli(t, db, "", "usage", "-account", "nobody"); code != 1 {
		t.Errorf("usage of an unknown account: exit %d", code)
	}
}
