package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/keyward/keys/memstore"
)

func TestDecodeBase62RoundTrip(t *testing.T) {
	for range 200 {
		tok, err := live.newToken()
		if err != nil {
			t.Fatal(err)
		}
		var raw [secretBytes]byte
		if !decodeBase62(&raw, tok[envPrefixLen:envPrefixLen+bodyLen]) {
			t.Fatalf("%s: did not decode", tok[:envPrefixLen])
		}
		var again [bodyLen]byte
		encodeBase62(again[:], new(big.Int).SetBytes(raw[:]))
		if string(again[:]) != tok[envPrefixLen:envPrefixLen+bodyLen] {
			t.Fatal("decode then encode changed the body")
		}
	}
	var raw [secretBytes]byte
	if decodeBase62(&raw, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz") {
		t.Fatal("a body above 2^256 decoded")
	}
}

func TestTokenTags(t *testing.T) {
	key, err := loadTagKey(memstore.New(), nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	f := tokenFormat{prefix: "sk_live_", tagger: newTagger(key)}
	other := tokenFormat{prefix: "sk_live_", tagger: newTagger(flipFirstByte(key))}
	for range 100 {
		tok, err := f.newToken()
		if err != nil {
			t.Fatal(err)
		}
		if !f.check(tok) || !f.hasTag(tok) {
			t.Fatal("a tagged token is malformed or its tag does not verify")
		}
		if other.hasTag(tok) {
			t.Fatal("a tag verified under another key")
		}
		plain, _ := live.newToken()
		if f.hasTag(plain) {
			t.Fatal("an untagged token passed as tagged")
		}
	}
}

func TestTagKeySharedThroughTheStore(t *testing.T) {
	st := memstore.New()
	a, err := loadTagKey(st, []byte("pepper"), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := loadTagKey(st, []byte("pepper"), -1)
	c, _ := loadTagKey(memstore.New(), []byte("pepper"), -1)
	d, _ := loadTagKey(st, []byte("other"), -1)
	if string(a) != string(b) {
		t.Fatal("two Managers on one store derived different tag keys")
	}
	if string(a) == string(c) || string(a) == string(d) {
		t.Fatal("another store or another pepper derived the same tag key")
	}
}

// TestTagMatchesHMAC: the hand-rolled tag is HMAC-SHA-256 truncated.
func TestTagMatchesHMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var raw [secretBytes]byte
	copy(raw[:], "twenty-four random bytes")
	tag(newTagger(key), &raw)
	mac := hmac.New(sha256.New, key)
	mac.Write(raw[:tagged])
	if want := mac.Sum(nil)[:tagBytes]; string(raw[tagged:]) != string(want) {
		t.Fatalf("tag %x, want HMAC-SHA-256 %x", raw[tagged:], want)
	}
}

func TestTagCheckAllocatesNothing(t *testing.T) {
	f := tokenFormat{prefix: "sk_live_", tagger: newTagger([]byte("k"))}
	tok, _ := live.newToken()
	if n := testing.AllocsPerRun(100, func() { f.hasTag(tok) }); n != 0 {
		t.Fatalf("hasTag: %v allocations, want 0", n)
	}
}

// flipFirstByte returns a copy of key that differs from it in its first
// byte, whatever that byte is.
func flipFirstByte(key []byte) []byte {
	other := append([]byte(nil), key...)
	other[0] ^= 0xff
	return other
}
