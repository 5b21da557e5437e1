package keys

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"time"

	"github.com/keyward/keys/store"
)

// Keyed tags (DESIGN 1.2, 5.3): the 32 bytes of a new token are 24 random
// bytes and an 8-byte HMAC-SHA-256 tag of them, so the token keeps its
// length and checksum. A Manager checks the tag of a token it has not
// cached before reading the store: a token with a valid tag was made by a
// process holding the tag key, and its lookup needs no budget; any other
// (a forgery, or a key made before tags) goes through Config.LookupRate.
// Nobody without the tag key can make a valid tag: 64 bits to guess.
//
// The tag key is HMAC-SHA-256, keyed with the pepper, of a random salt that
// the first Manager on a store writes as a store setting (every process on
// that store, the CLI included, reads the same one). With a pepper, reading
// the database does not reveal the tag key; without one it does, and such
// a reader could make tokens that reach the store within no budget, which
// costs a store read each, as before the defence: a tag never
// authenticates anything.
const (
	tagSetting = "token_tag_salt_v1"
	tagLabel   = "github.com/keyward/keys token tag v1 "
	tagBytes   = 8
	tagged     = secretBytes - tagBytes // random bytes a tag covers
)

// loadTagKey reads (or first writes) the store's tag salt and derives the
// tag key from it and the pepper, bounded by timeout as checkPepper is.
func loadTagKey(st store.Store, pepper []byte, timeout time.Duration) ([]byte, error) {
	ctx := context.Background()
	if timeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var salt [32]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, fmt.Errorf("keys: reading random bytes: %w", err)
	}
	got, err := st.InitSetting(ctx, tagSetting, hex.EncodeToString(salt[:]))
	if err != nil {
		return nil, fmt.Errorf("keys: reading the store's token tag salt: %w", err)
	}
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(tagLabel))
	mac.Write([]byte(got))
	return mac.Sum(nil), nil
}

// decodeBase62 reads a token body (base62, most significant digit first,
// in this package's alphabet, which math/big's base 62 orders otherwise)
// into raw, reporting false if it does not fit 32 bytes. Four 64-bit limbs,
// least significant first.
func decodeBase62(raw *[secretBytes]byte, body string) bool {
	var n [4]uint64
	for i := range len(body) {
		d := base62Value(body[i])
		if d < 0 {
			return false
		}
		carry := uint64(d)
		for j := range n {
			hi, lo := bits.Mul64(n[j], 62)
			lo, c := bits.Add64(lo, carry, 0)
			n[j], carry = lo, hi+c
		}
		if carry != 0 {
			return false
		}
	}
	for j := range n {
		binary.BigEndian.PutUint64(raw[secretBytes-8*(j+1):], n[j])
	}
	return true
}

func base62Value(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// tag writes the tag of raw[:tagged] under t's key into raw[tagged:]:
// HMAC-SHA-256 from the hasher's precomputed pads, on stack buffers, so a
// tag check allocates nothing.
func tag(t *hasher, raw *[secretBytes]byte) {
	var inner [sha256.BlockSize + tagged]byte
	copy(inner[:], t.ipad[:])
	copy(inner[sha256.BlockSize:], raw[:tagged])
	innerSum := sha256.Sum256(inner[:])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], t.opad[:])
	copy(outer[sha256.BlockSize:], innerSum[:])
	sum := sha256.Sum256(outer[:])
	copy(raw[tagged:], sum[:tagBytes])
}

// hasTag reports whether a well-formed token (check passed) carries a
// valid tag under this format's tag key. It runs only for tokens the
// cache does not hold, and allocates nothing.
func (f tokenFormat) hasTag(token string) bool {
	if f.tagger == nil {
		return false
	}
	var raw [secretBytes]byte
	if !decodeBase62(&raw, token[envPrefixLen:envPrefixLen+bodyLen]) {
		return false
	}
	got := raw[tagged:]
	var want [secretBytes]byte
	copy(want[:], raw[:tagged])
	tag(f.tagger, &want)
	return subtle.ConstantTimeCompare(got, want[tagged:]) == 1
}

// newTagger returns the tag key as HMAC pads (a hasher peppered with it).
func newTagger(key []byte) *hasher {
	h := newHasher(key)
	return &h
}
