package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPepperMismatchRefused is the lock-out of issue 11: a CLI run without
// the server's $KEYS_PEPPER reissued a root key that the server then
// refused. Now the run fails before touching a key, and says what to set.
func TestPepperMismatchRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	t.Setenv("KEYS_PEPPER", "server-side secret")
	var v map[string]any
	cliJSON(t, db, &v, "account", "create", "-id", "acme", "-verified")
	cliJSON(t, db, &v, "reissue", "-account", "acme")

	for _, pepper := range []string{"", "a different secret"} {
		t.Setenv("KEYS_PEPPER", pepper)
		code, out, errOut := cli(t, db, "", "reissue", "-account", "acme")
		if code != 1 || out != "" || !strings.Contains(errOut, "pepper") || !strings.Contains(errOut, "KEYS_PEPPER") {
			t.Fatalf("reissue with KEYS_PEPPER=%q: exit %d, %q %q; want exit 1 naming KEYS_PEPPER", pepper, code, out, errOut)
		}
		if strings.Contains(errOut, "server-side secret") || (pepper != "" && strings.Contains(errOut, pepper)) {
			t.Fatalf("the error shows a pepper: %q", errOut)
		}
	}
	t.Setenv("KEYS_PEPPER", "server-side secret")
	var listed []map[string]any
	cliJSON(t, db, &listed, "list", "-account", "acme")
	if len(listed) != 1 {
		t.Fatalf("%d keys after the refused runs, want the one root", len(listed))
	}
}
