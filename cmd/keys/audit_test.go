package main

import (
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func TestAudit(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	var v map[string]any
	cliJSON(t, db, &v, "account", "create", "-id", "acme", "-verified")
	cliJSON(t, db, &v, "reissue", "-account", "acme")
	var child map[string]any
	cliJSON(t, db, &child, "child", "-account", "acme")
	if code, _, errOut := cli(t, db, "", "revoke", "-id", child["id"].(string)); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	var page struct {
		Events []struct {
			Type  string  `json:"type"`
			KeyID *string `json:"key_id"`
			Actor struct {
				Type string  `json:"type"`
				ID   *string `json:"id"`
			} `json:"actor"`
			Data map[string]any `json:"data"`
		} `json:"events"`
		NextCursor *string `json:"next_cursor"`
	}
	cliJSON(t, db, &page, "audit", "-account", "acme")
	want := []string{"key.revoked", "key.issued", "key.issued", "account.created"}
	if len(page.Events) != len(want) || page.NextCursor != nil {
		t.Fatalf("audit: %+v, want %v", page, want)
	}
	u, err := user.Current()
	if err != nil {
		t.Skip("no OS user:", err)
	}
	for i, e := range page.Events {
		if e.Type != want[i] || e.Actor.Type != "operator" || e.Actor.ID == nil || *e.Actor.ID != u.Username {
			t.Fatalf("event %d = %s by %s %v, want %s by operator %s", i, e.Type, e.Actor.Type, e.Actor.ID, want[i], u.Username)
		}
	}
	if k := page.Events[0].KeyID; k == nil || *k != child["id"] {
		t.Fatalf("revocation about %v, want %v", k, child["id"])
	}

	// Pages of one, the next page's command under each.
	code, out, errOut := cli(t, db, "", "audit", "-account", "acme", "-limit", "1")
	if code != 0 || !strings.Contains(out, "key.revoked") || !strings.Contains(out, "next page: keys audit -account acme -limit 1 -cursor ") {
		t.Fatalf("audit -limit 1: exit %d\n%s%s", code, out, errOut)
	}
	cursor := out[strings.LastIndex(out, " ")+1:]
	cliJSON(t, db, &page, "audit", "-account", "acme", "-limit", "1", "-cursor", strings.TrimSpace(cursor))
	if len(page.Events) != 1 || page.Events[0].Type != "key.issued" {
		t.Fatalf("second page: %+v", page.Events)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "-account is required"},
		{[]string{"audit", "-account", "acme", "-limit", "0"}, "-limit 0"},
		{[]string{"audit", "-account", "acme", "-cursor", "junk"}, "cursor"},
	} {
		code, _, errOut := cli(t, db, "", tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("keys %v: exit %d, %q; want a failure naming %q", tc.args, code, errOut, tc.want)
		}
	}
}
