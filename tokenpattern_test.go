package keys_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// issueToken returns a real token of the given environment.
func issueToken(t *testing.T, env string) string {
	t.Helper()
	m, err := keys.New(memstore.New(), keys.Config{Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.CreateAccount(t.Context(), keys.Account{ID: "a", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	return iss.Secret
}

func TestTokenPatternAndWellFormed(t *testing.T) {
	re := regexp.MustCompile(keys.TokenPattern)
	for _, env := range []string{"live", "test"} {
		tok := issueToken(t, env)
		if len(tok) != keys.TokenLen {
			t.Fatalf("%s token is %d bytes, TokenLen says %d", env, len(tok), keys.TokenLen)
		}
		if !keys.WellFormedToken(tok) {
			t.Fatalf("a fresh %s token is not well formed", env)
		}
		text := "config:\n  api_key: \"" + tok + "\"\n  other: x\n"
		if got := re.FindString(text); got != tok {
			t.Fatalf("TokenPattern found %q in the %s text, want the token", got, env)
		}
		// A token glued to more word characters is not a token.
		for _, glued := range []string{"x" + tok, tok + "x", tok + "_", "_" + tok} {
			if re.MatchString(glued) {
				t.Fatalf("TokenPattern matches a token glued to a word character (%d bytes)", len(glued))
			}
		}
		// One changed character breaks the checksum (the regexp still
		// matches: only the checksum tells).
		flipped := []byte(tok)
		i := len("sk_live_") + 5
		if flipped[i] == 'a' {
			flipped[i] = 'b'
		} else {
			flipped[i] = 'a'
		}
		if keys.WellFormedToken(string(flipped)) {
			t.Fatal("a token with a changed character is still well formed")
		}
		if !re.MatchString(string(flipped)) {
			t.Fatal("TokenPattern should still match the shape")
		}
	}
	for _, bad := range []string{"", "sk_live_", "sk_prod_" + strings.Repeat("A", 49),
		"sk_live_" + strings.Repeat("A", 48), "sk_live_" + strings.Repeat("A", 50),
		"sk_live_" + strings.Repeat("-", 49)} {
		if keys.WellFormedToken(bad) {
			t.Fatalf("WellFormedToken(%q) = true", bad)
		}
	}
}
