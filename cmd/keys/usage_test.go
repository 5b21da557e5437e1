package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestGlobalFlagsFirst checks that the flags every command takes may come
// before the command's name.
func TestGlobalFlagsFirst(t *testing.T) {
	db, _ := newDB(t)
	for _, args := range [][]string{
		{"-json", "list", "-account", "a1"},
		{"--json", "list", "-account", "a1"},
		{"-db", db, "-json", "list", "-account", "a1"},
		{"-db=" + db, "-env", "live", "-json", "list", "-account", "a1"},
		{"-json", "-db", db, "list", "-account", "a1", "-env=live"},
	} {
		// $KEYS_DB names no database: -db given first must be used.
		vars := map[string]string{"KEYS_DB": "nowhere.db"}
		if !contains(args, db) && !contains(args, "-db="+db) {
			vars["KEYS_DB"] = db
		}
		code, out, errOut := runEnv(t, vars, "", args...)
		var ks []map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &ks) != nil || len(ks) != 2 {
			t.Errorf("keys %q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	// A flag given first and again after the command: the later wins, as
	// with any repeated flag.
	if code, out, _ := runIn(t, "nowhere.db", "", "-db", "nowhere.db", "account", "show", "-id", "a1", "-db", db); code != 0 || !strings.Contains(out, "a1") {
		t.Errorf("repeated -db: exit %d, %q", code, out)
	}
	// serve refuses -json wherever it is given.
	for _, args := range [][]string{{"-json", "serve"}, {"serve", "-json"}} {
		if code, _, errOut := runIn(t, db, "", args...); code != exitUsage || !strings.Contains(errOut, "serve takes no flag -json") {
			t.Errorf("keys %q: exit %d, %q", args, code, errOut)
		}
	}
}

// TestAccountAlone checks that `keys account` prints the account
// subcommands, not an error about an empty one.
func TestAccountAlone(t *testing.T) {
	code, out, errOut := runIn(t, "", "", "account")
	if code != exitUsage || out != "" || strings.Contains(errOut, `""`) {
		t.Fatalf("keys account: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, sub := range []string{"keys account create", "keys account verify", "keys account tier", "keys account show", "keys account list"} {
		if !strings.Contains(errOut, sub) {
			t.Errorf("keys account does not list %q:\n%s", sub, errOut)
		}
	}
	if code, out, _ := runIn(t, "", "", "help", "account"); code != 0 || !strings.Contains(out, "keys account create") {
		t.Errorf("keys help account: exit %d, %q", code, out)
	}
}

// flagLine matches a flag in PrintDefaults' output.
var flagLine = regexp.MustCompile(`(?m)^  -([a-z-]+)`)

// TestHelpCommand checks `keys help CMD` and `keys CMD -h` for every
// command: the synopsis, the description, and every flag the command
// defines, each default stated once.
func TestHelpCommand(t *testing.T) {
	for _, c := range commands() {
		help := append([]string{"help"}, strings.Fields(c.name)...)
		code, out, errOut := runIn(t, "", "", help...)
		if code != 0 || errOut != "" {
			t.Fatalf("keys %q: exit %d, %q", help, code, errOut)
		}
		dash := append(strings.Fields(c.name), "-h")
		if code, out2, _ := runIn(t, "", "", dash...); code != 0 || out2 != out {
			t.Errorf("keys %q differs from keys %q:\n%s", dash, help, out2)
		}
		if !strings.HasPrefix(out, "usage: keys "+c.name+" "+c.args+"\n") || !strings.Contains(out, capitalise(c.help)) {
			t.Errorf("keys %q: no synopsis or description:\n%s", help, out)
		}
		var got []string
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		want := []string{"db", "env"}
		if c.name == "scan" {
			want = nil // scan's -db has no default and scan reads both environments
		}
		if c.name != "serve" {
			want = append(want, "json")
		}
		// Every flag of the synopsis is listed, and the synopsis leaves
		// none of serve's out.
		for _, m := range regexp.MustCompile(`-([a-z-]+)`).FindAllStringSubmatch(c.args, -1) {
			want = append(want, m[1])
		}
		for _, w := range want {
			if !contains(got, w) {
				t.Errorf("keys %q does not list -%s:\n%s", help, w, out)
			}
		}
		if c.name == "serve" {
			for _, g := range got {
				if !strings.Contains(c.args, "-"+g+" ") && !strings.Contains(c.args, "-"+g+"]") {
					t.Errorf("serve's synopsis %q omits -%s", c.args, g)
				}
			}
		}
		if n := strings.Count(out, "keys.db"); n != 1 && c.name != "scan" {
			t.Errorf("keys %q names keys.db %d times:\n%s", help, n, out)
		}
	}
	// Plain help lists every command.
	code, out, _ := runIn(t, "", "", "help")
	for _, c := range commands() {
		if code != 0 || !strings.Contains(out, "keys "+c.name) {
			t.Errorf("keys help lacks %q", c.name)
		}
	}
	if code, out2, _ := runIn(t, "", "", "-h"); code != 0 || out2 != out {
		t.Errorf("keys -h differs from keys help")
	}
}
