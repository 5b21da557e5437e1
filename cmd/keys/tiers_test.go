package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/sqlitestore"
)

// hostDB returns a database where a host with its own tier "tiny"
// (3/min, 50/month) made the verified account t1 on it, with a root key
// and a child, and returns the root key's ID.
func hostDB(t *testing.T) (db, rootID string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "keys.db")
	st, err := sqlitestore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := keys.New(st, keys.Config{Tiers: map[keys.Tier]keys.Limits{"tiny": {RequestsPerMinute: 3, RequestsPerMonth: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: "t1", Tier: "tiny", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.IssueChild(ctx, "t1", keys.ChildOptions{}); err != nil {
		t.Fatal(err)
	}
	return db, iss.Key.ID.String()
}

// limitNumbers matches any limit the CLI could print for the account.
var limitNumbers = regexp.MustCompile(`\d+/min|\d+/month`)

// TestUnconfiguredTier checks that the CLI never prints limits it does not
// know: for an account on a tier configured only in the host, it says so.
func TestUnconfiguredTier(t *testing.T) {
	db, rootID := hostDB(t)
	const note = "tier tiny is not configured here"
	for _, args := range [][]string{
		{"account", "show", "-id", "t1"},
		{"list", "-account", "t1"},
		{"show", "-id", rootID},
		{"account", "verify", "-id", "t1"},
	} {
		out := mustRun(t, db, args...)
		if !strings.Contains(out, note) || limitNumbers.MatchString(out) {
			t.Errorf("keys %q printed limits it does not know, or no note:\n%s", args, out)
		}
		js := mustRun(t, db, append(args, "-json")...)
		if !strings.Contains(js, `"note": "`+note+`"`) || regexp.MustCompile(`"(effective_)?(rate|quota)_requests_per_(minute|month)": \d`).MatchString(js) {
			t.Errorf("keys %q -json printed limits it does not know, or no note:\n%s", args, js)
		}
	}
	// The same account on a tier the CLI knows shows numbers again.
	mustRun(t, db, "account", "tier", "-id", "t1", "-tier", "pro")
	var a accountView
	if err := json.Unmarshal([]byte(mustRun(t, db, "account", "show", "-id", "t1", "-json")), &a); err != nil || a.Rate == nil || *a.Rate != 300 || a.Note != "" {
		t.Errorf("account on pro: %+v, %v", a, err)
	}
}

// TestUnconfiguredTierRefusals checks what the CLI refuses about a tier it
// does not know: creating an account on it, and an override it cannot
// check against the tier's limits.
func TestUnconfiguredTierRefusals(t *testing.T) {
	db, _ := hostDB(t)
	code, _, errOut := runIn(t, db, "", "account", "create", "-id", "n1", "-tier", "tiny")
	if code != exitUsage || !strings.Contains(errOut, `-tier "tiny": unknown tier`) {
		t.Errorf("account create -tier tiny: exit %d, %q", code, errOut)
	}
	code, _, errOut = runIn(t, db, "", "child", "-account", "t1", "-rpm", "2")
	if code != exitUsage || !strings.Contains(errOut, "tier tiny is not configured here") {
		t.Errorf("child -rpm under tiny: exit %d, %q", code, errOut)
	}
	// Without an override nothing needs the tier's limits.
	mustRun(t, db, "child", "-account", "t1")
	if code, _, _ := runIn(t, db, "", "account", "show", "-id", "n1"); code != exitFail {
		t.Error("account create -tier tiny created the account")
	}
}

// TestTestEnvironment checks -env test (and $KEYS_ENVIRONMENT) on a database of
// sk_test_ keys, and that a run for the wrong environment says so instead
// of calling a valid key malformed or minting a key of the other one.
func TestTestEnvironment(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	mustRun(t, db, "account", "create", "-id", "a1", "-verified")
	var root, child issuedView
	if err := json.Unmarshal([]byte(mustRun(t, db, "-env", "test", "reissue", "-account", "a1", "-json")), &root); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(root.Secret, "sk_test_") || root.Prefix != "sk_test_root" {
		t.Fatalf("reissue -env test: %+v", root)
	}

	// The wrong environment is refused with the right one named.
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"inspect"}, root.Secret},
		{[]string{"child", "-account", "a1"}, ""},
		{[]string{"reissue", "-account", "a1"}, ""},
	} {
		code, out, errOut := runIn(t, db, tc.stdin, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, "run with -env test") || strings.Contains(out+errOut, root.Secret) {
			t.Errorf("keys %q in live: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}

	// The right one works, by flag or by $KEYS_ENVIRONMENT.
	vars := map[string]string{"KEYS_DB": db, "KEYS_ENVIRONMENT": "test"}
	code, out, errOut := runEnv(t, vars, "", "child", "-account", "a1", "-json")
	if code != 0 || json.Unmarshal([]byte(out), &child) != nil || child.Prefix != "sk_test_child" || !strings.HasPrefix(child.Secret, "sk_test_") {
		t.Fatalf("child with KEYS_ENVIRONMENT=test: exit %d, %q, %q", code, out, errOut)
	}
	for _, tok := range []string{root.Secret, child.Secret} {
		code, out, errOut := runIn(t, db, tok+"\n", "inspect", "-env", "test", "-json")
		var k keyView
		if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k.Status != "active" {
			t.Errorf("inspect -env test: exit %d, %q, %q", code, out, errOut)
		}
	}
	// And a live key under a test run is refused the other way round.
	mustRun(t, db, "account", "create", "-id", "l1", "-verified")
	mustRun(t, db, "reissue", "-account", "l1")
	if code, _, errOut := runEnv(t, vars, "", "child", "-account", "l1"); code != exitUsage || !strings.Contains(errOut, "run with -env live") {
		t.Errorf("child of a live account in test: exit %d, %q", code, errOut)
	}
}
