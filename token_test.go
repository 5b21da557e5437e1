package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash/crc32"
	"strings"
	"testing"
)

var live = tokenFormat{prefix: "sk_live_"}

func TestNewTokenShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		tok, err := live.newToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != tokenLen || !strings.HasPrefix(tok, "sk_live_") {
			t.Fatalf("token %q: wrong shape", tok[:8])
		}
		if !live.check(tok) {
			t.Fatal("a fresh token fails its own check")
		}
		want := crc32.ChecksumIEEE([]byte(tok[:51]))
		if crcString(tok[:51]) != want {
			t.Fatal("crcString disagrees with hash/crc32")
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestCheckRejects(t *testing.T) {
	good, err := live.newToken()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	testTok, _ := tokenFormat{prefix: "sk_test_"}.newToken()
	cases := map[string]string{
		"empty":              "",
		"prefix only":        "sk_live_",
		"short":              good[:tokenLen-1],
		"long":               good + "0",
		"test env":           testTok,
		"upper prefix":       "SK_LIVE_" + good[8:],
		"body typo":          flip(20),
		"checksum typo":      flip(tokenLen - 1),
		"underscore in body": good[:20] + "_" + good[21:],
		"NUL in body":        good[:20] + "\x00" + good[21:],
		"non-ASCII":          good[:20] + "é" + good[22:],
		"8 KB":               strings.Repeat("A", 8192),
		"bearer":             "Bearer " + good,
	}
	for name, tok := range cases {
		if live.check(tok) {
			t.Errorf("%s: check accepted %q", name, tok)
		}
	}
}

func TestHasherHMACMatchesCryptoHMAC(t *testing.T) {
	tok, _ := live.newToken()
	for _, pepper := range [][]byte{[]byte("short"), []byte(strings.Repeat("p", 64)), []byte(strings.Repeat("long", 40))} {
		h := newHasher(pepper)
		mac := hmac.New(sha256.New, pepper)
		mac.Write([]byte(tok))
		if got := h.sum(tok); !hmac.Equal(got[:], mac.Sum(nil)) {
			t.Fatalf("pepper of %d bytes: HMAC mismatch", len(pepper))
		}
	}
	plain := newHasher(nil)
	if got := plain.sum(tok); got != sha256.Sum256([]byte(tok)) {
		t.Fatal("unpeppered hash is not SHA-256 of the token")
	}
}

func TestHotPathHelpersDoNotAllocate(t *testing.T) {
	tok, _ := live.newToken()
	h := newHasher([]byte("pepper"))
	if n := testing.AllocsPerRun(100, func() { _ = live.check(tok) }); n != 0 {
		t.Errorf("check allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = h.sum(tok) }); n != 0 {
		t.Errorf("peppered sum allocates %v times", n)
	}
}

func FuzzCheck(f *testing.F) {
	good, _ := live.newToken()
	for _, s := range []string{"", "sk_live_", good, good[:50], good + "x", "sk_test_" + good[8:],
		strings.Repeat("_", tokenLen), "sk_live_" + strings.Repeat("0", 49)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := live.check(s)
		if !ok {
			return
		}
		// Anything accepted has the exact shape and a checksum that matches.
		if len(s) != tokenLen || s[:8] != "sk_live_" {
			t.Fatalf("accepted %q of the wrong shape", s)
		}
		for i := 8; i < tokenLen; i++ {
			if !strings.ContainsRune(base62Alphabet, rune(s[i])) {
				t.Fatalf("accepted non-base62 byte %q", s[i])
			}
		}
		var want [checksumLen]byte
		encodeChecksum(&want, crc32.ChecksumIEEE([]byte(s[:51])))
		if s[51:] != string(want[:]) {
			t.Fatalf("accepted a bad checksum")
		}
	})
}
