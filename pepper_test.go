package keys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// TestPepperMismatchFailsNew reproduces the lock-out: a CLI run without the
// server's pepper reissued a key the server then refused. Now the second
// Manager with another pepper (or none, or one where none was used) fails in
// New, and a Manager with the recorded pepper still opens.
func TestPepperMismatchFailsNew(t *testing.T) {
	server, other := []byte("s3rv3r-p3pp3r"), []byte("0th3r-p3pp3r")
	for _, tc := range []struct {
		name        string
		first, then []byte
		say         string
	}{
		{"other pepper", server, other, "another pepper"},
		{"none where one was used", server, nil, "Config.Pepper is empty"},
		{"one where none was used", nil, server, "without a pepper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New()
			f := newFixtureOn(t, st, keys.Config{Pepper: tc.first})
			f.account(t, "acct_1", keys.Pro)
			iss := f.reissue(t, "acct_1")

			m, err := keys.New(st, keys.Config{Pepper: tc.then})
			if err == nil {
				m.Close()
				t.Fatal("New with a mismatched pepper succeeded")
			}
			if !errors.Is(err, keys.ErrPepperMismatch) || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("New = %v, want ErrPepperMismatch saying %q", err, tc.say)
			}
			if strings.Contains(err.Error(), string(server)) || strings.Contains(err.Error(), string(other)) {
				t.Fatalf("the error shows a pepper: %v", err)
			}
			// The matching pepper still opens and accepts the key.
			m, err = keys.New(st, keys.Config{Pepper: tc.first})
			if err != nil {
				t.Fatalf("New with the recorded pepper: %v", err)
			}
			defer m.Close()
			if _, err := m.Authenticate(ctx(), iss.Secret); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
		})
	}
}

// TestPepperFingerprintHidesThePepper checks what the store records: not
// the pepper, not its plain SHA-256, and a value that differs per pepper.
func TestPepperFingerprintHidesThePepper(t *testing.T) {
	fingerprint := func(pepper []byte) string {
		st := memstore.New()
		m, err := keys.New(st, keys.Config{Pepper: pepper})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		// InitSetting returns what is stored without changing it.
		v, err := st.InitSetting(ctx(), "pepper_fingerprint", "probe")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	pepper := []byte("correct horse battery staple")
	a, b := fingerprint(pepper), fingerprint([]byte("another"))
	if a == "" || a == "probe" || a == b || a != fingerprint(pepper) {
		t.Fatalf("fingerprints %q and %q: want a stable value per pepper", a, b)
	}
	if strings.Contains(a, string(pepper)) || strings.Contains(a, "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a") {
		t.Fatalf("the fingerprint %q holds the pepper or its plain SHA-256", a)
	}
}
