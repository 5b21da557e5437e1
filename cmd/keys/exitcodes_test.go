package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes runs every subcommand with bad input: each must exit 2
// with a message naming what was wrong, and touch nothing. Runtime
// failures exit 1.
func TestExitCodes(t *testing.T) {
	db, childID := newDB(t)
	long := strings.Repeat("a", 129)
	type tc struct {
		args  []string
		stdin string
		want  string
	}
	var cases []tc
	// Faults every command shares.
	for _, c := range commands() {
		name := strings.Fields(c.name)
		if c.name == "scan" {
			// scan takes paths, checks tokens of both environments, and
			// has its own flag set (an offline default, no -env).
			cases = append(cases,
				tc{append(name, "-nosuch"), "", "-nosuch"},
				tc{append(name, "-db", "postgres://u:pw@h:x/d"), "", "not a valid PostgreSQL connection string"},
				tc{append(name, "-revoke"), "", "-revoke needs -db"})
			continue
		}
		cases = append(cases,
			tc{append(name, "-nosuch"), "", "takes no flag -nosuch"},
			tc{append(name, "-env", "staging"), "", `-env "staging": want live or test`},
			tc{append(name, "-db", "postgres://u:pw@h:x/d"), "", "not a valid PostgreSQL connection string"},
			tc{append(name, "stray"), "", `unexpected argument "stray"`},
		)
	}
	cases = append(cases,
		tc{nil, "", "no command given"},
		tc{[]string{"frobnicate"}, "", `unknown command "frobnicate"`},
		tc{[]string{"-verbose", "list"}, "", "only -db, -env and -json may come first"},
		tc{[]string{"account"}, "", "account needs a subcommand"},
		tc{[]string{"account", "delete"}, "", `unknown account command "delete"`},
		tc{[]string{"help", "nosuch"}, "", `unknown command "nosuch"`},

		tc{[]string{"serve", "-addr"}, "", "flag needs an argument: -addr"},
		tc{[]string{"serve", "-demo", "maybe"}, "", "want auto, true or false"},
		tc{[]string{"serve", "-cache-ttl", "soon"}, "", "-cache-ttl"},
		tc{[]string{"serve", "-json"}, "", "takes no flag -json"},
		tc{[]string{"serve", "-jwt-secret", "short"}, "", "-jwt-secret"},

		tc{[]string{"account", "create"}, "", "-id is required"},
		tc{[]string{"account", "create", "-id", long}, "", "1 to 128 bytes"},
		tc{[]string{"account", "create", "-id", "bad\x01id"}, "", "printable"},
		tc{[]string{"account", "create", "-id", "x", "-tier", "gold"}, "", `-tier "gold": unknown tier`},
		tc{[]string{"account", "create", "-id", "x", "-verified=maybe"}, "", "invalid boolean"},
		tc{[]string{"account", "verify"}, "", "-id is required"},
		tc{[]string{"account", "verify", "-id", long}, "", "1 to 128 bytes"},
		tc{[]string{"account", "tier", "-id", "a1"}, "", "-tier is required"},
		tc{[]string{"account", "tier", "-id", "a1", "-tier", "platinum"}, "", `-tier "platinum": unknown tier`},
		tc{[]string{"account", "tier", "-id", long, "-tier", "pro"}, "", "1 to 128 bytes"},
		tc{[]string{"account", "show"}, "", "-id is required"},
		tc{[]string{"account", "show", "-id", long}, "", "1 to 128 bytes"},

		tc{[]string{"account", "list", "-limit", "0"}, "", "-limit 0: want 1 to 1000"},
		tc{[]string{"account", "list", "-limit", "1001"}, "", "-limit 1001"},
		tc{[]string{"account", "list", "-after", long}, "", "1 to 128 bytes"},

		tc{[]string{"reissue"}, "", "-account is required"},
		tc{[]string{"reissue", "-account", long}, "", "1 to 128 bytes"},

		tc{[]string{"child"}, "", "-account is required"},
		tc{[]string{"child", "-account", long}, "", "1 to 128 bytes"},
		tc{[]string{"child", "-account", "a1", "-name", long}, "", "-name: at most 128 bytes"},
		tc{[]string{"child", "-account", "a1", "-expires", "soon"}, "", `-expires "soon"`},
		tc{[]string{"child", "-account", "a1", "-expires", "-5m"}, "", `-expires "-5m"`},
		tc{[]string{"child", "-account", "a1", "-expires", "2001-01-01T00:00:00Z"}, "", "not in the future"},
		tc{[]string{"child", "-account", "a1", "-rpm", "many"}, "", "invalid value"},
		tc{[]string{"child", "-account", "a1", "-rpm", "-1"}, "", "-rpm -1"},
		tc{[]string{"child", "-account", "a1", "-rpm", "9999999999"}, "", "-rpm 9999999999"},
		// Only the tier (in the store) bounds these: still bad input.
		tc{[]string{"child", "-account", "a1", "-rpm", "99999"}, "", "per-minute rate override 99999"},
		tc{[]string{"child", "-account", "a1", "-quota", "999999999"}, "", "monthly quota override 999999999"},
		tc{[]string{"child", "-account", "a1", "-quota", "-3"}, "", "-quota -3"},

		tc{[]string{"revoke"}, "", "-id is required"},
		tc{[]string{"revoke", "-id", "not-a-uuid"}, "", "not a key ID"},
		tc{[]string{"revoke", "-id", childID, "now"}, "", `unexpected argument "now"`},
		tc{[]string{"revoke", "-id", childID, "-env", "prod"}, "", `-env "prod"`},
		tc{[]string{"list"}, "", "-account is required"},
		tc{[]string{"list", "-account", long}, "", "1 to 128 bytes"},
		tc{[]string{"show"}, "", "-id is required"},
		tc{[]string{"show", "-id", "123"}, "", "not a key ID"},
		tc{[]string{"inspect"}, "", "got none"},
		tc{[]string{"inspect"}, "sk_test_abc\n", "run with -env test"},
		tc{[]string{"inspect", "-env", "test"}, "sk_live_abc\n", "run with -env live"},
	)
	for _, c := range cases {
		code, _, errOut := runIn(t, db, c.stdin, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "panic") {
			t.Errorf("keys %q: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, errOut, c.want)
		}
	}
	// Nothing above changed the database: one root, one child, active.
	if out := mustRun(t, db, "list", "-account", "a1"); strings.Count(out, "\n") != 3 || strings.Count(out, " active ") != 2 {
		t.Errorf("the bad calls changed the keys:\n%s", out)
	}

	// Runtime failures: exit 1, one line.
	for _, args := range [][]string{
		{"account", "show", "-id", "nobody"},
		{"account", "create", "-id", "a1"},
		{"account", "verify", "-id", "nobody"},
		{"account", "tier", "-id", "nobody", "-tier", "pro"},
		{"reissue", "-account", "nobody"},
		{"child", "-account", "nobody"},
		{"revoke", "-id", "0190a0a0-0000-7000-8000-000000000000"},
		{"show", "-id", "0190a0a0-0000-7000-8000-000000000000"},
		{"list", "-account", "nobody"},
		{"serve", "-addr", "256.0.0.1:1"},
	} {
		code, _, errOut := runIn(t, db, "", args...)
		if code != exitFail || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("keys %q: exit %d, stderr %q; want exit 1 and one line", args, code, errOut)
		}
	}
	if code, _, errOut := runIn(t, db, "sk_live_"+strings.Repeat("a", 49), "inspect"); code != exitFail || !strings.Contains(errOut, "token refused") {
		t.Errorf("inspect of a malformed token: exit %d, %q", code, errOut)
	}
}

// TestMissingDatabase checks that every command but serve and account
// create refuses a -db file that does not exist, and creates none.
func TestMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	const id = "0190a0a0-0000-7000-8000-000000000000"
	for _, args := range [][]string{
		{"account", "verify", "-id", "a1"},
		{"account", "tier", "-id", "a1", "-tier", "pro"},
		{"account", "show", "-id", "a1"},
		{"account", "list"},
		{"reissue", "-account", "a1"},
		{"child", "-account", "a1"},
		{"revoke", "-id", id},
		{"list", "-account", "a1"},
		{"show", "-id", id},
		{"inspect"},
	} {
		db := filepath.Join(dir, "typo.db")
		code, out, errOut := runIn(t, "", "sk_live_"+strings.Repeat("a", 49), append(args, "-db", db)...)
		want := "keys: no database at " + db + " (create one with: keys account create"
		if code != exitFail || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 || out != "" {
			t.Errorf("keys %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errOut, want)
		}
		for _, f := range []string{db, db + "-wal", db + "-shm", db + "-journal"} {
			if exists(f) {
				t.Fatalf("keys %q created %s", args, f)
			}
		}
	}
	// $KEYS_DB is checked the same way.
	db := filepath.Join(dir, "env.db")
	if code, _, errOut := runIn(t, db, "", "list", "-account", "a1"); code != exitFail || !strings.Contains(errOut, "no database at "+db) || exists(db) {
		t.Errorf("$KEYS_DB missing: exit %d, %q", code, errOut)
	}
	// account create makes one.
	mustRun(t, db, "account", "create", "-id", "a1")
	if !exists(db) {
		t.Fatal("account create made no database")
	}
}
