package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPrune(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	var v map[string]any
	cliJSON(t, db, &v, "account", "create", "-id", "acme", "-verified")
	cliJSON(t, db, &v, "reissue", "-account", "acme")
	cliJSON(t, db, &v, "reissue", "-account", "acme") // revokes the first root
	var child map[string]any
	cliJSON(t, db, &child, "child", "-account", "acme")
	if code, _, errOut := cli(t, db, "", "revoke", "-id", child["id"].(string)); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	var listed []map[string]any
	cliJSON(t, db, &listed, "list", "-account", "acme")
	if len(listed) != 3 {
		t.Fatalf("before pruning: %d keys, want 3", len(listed))
	}

	code, out, errOut := cli(t, db, "", "prune", "-older-than", "2160h")
	if code != 0 || !strings.Contains(out, "pruned 0 keys") {
		t.Fatalf("prune -older-than 2160h: exit %d, %q %q; want nothing pruned (revoked just now)", code, out, errOut)
	}
	var pruned struct {
		Pruned    int    `json:"pruned"`
		OlderThan string `json:"older_than"`
	}
	cliJSON(t, db, &pruned, "prune", "-older-than", "0s")
	if pruned.Pruned != 2 || pruned.OlderThan != "0s" {
		t.Fatalf("prune -older-than 0s = %+v, want 2 pruned", pruned)
	}
	cliJSON(t, db, &listed, "list", "-account", "acme")
	if len(listed) != 1 || listed[0]["id"] == child["id"] {
		t.Fatalf("after pruning: %v, want the active root only", listed)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"prune"}, "-older-than is required"},
		{[]string{"prune", "-older-than", "-1h"}, "-older-than -1h0m0s"},
		{[]string{"prune", "-older-than", "90 days"}, "invalid value"},
		{[]string{"prune", "-older-than", "1h", "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := cli(t, db, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("keys %v: exit %d, %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}
