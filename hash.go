package keys

import (
	"crypto/sha256"

	"github.com/keyward/keys/store"
)

// hasher turns a checked token into the hash a Store keeps.
//
// Keys are 256-bit random, so a fast hash is as safe as a slow KDF and costs
// 85 ns instead of tens of milliseconds. With a pepper the hash is
// HMAC-SHA-256, computed here from precomputed pads on stack buffers rather
// than with crypto/hmac, whose hash.Hash interface makes every call allocate.
type hasher struct {
	peppered bool
	ipad     [sha256.BlockSize]byte
	opad     [sha256.BlockSize]byte
}

func newHasher(pepper []byte) hasher {
	var h hasher
	if len(pepper) == 0 {
		return h
	}
	h.peppered = true
	key := pepper
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	copy(h.ipad[:], key)
	copy(h.opad[:], key)
	for i := range h.ipad {
		h.ipad[i] ^= 0x36
		h.opad[i] ^= 0x5c
	}
	return h
}

// sum hashes a token of at most tokenLen bytes (check it first).
func (h *hasher) sum(token string) store.Hash {
	if !h.peppered {
		var buf [tokenLen]byte
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	var inner [sha256.BlockSize + tokenLen]byte
	copy(inner[:], h.ipad[:])
	n := copy(inner[sha256.BlockSize:], token)
	innerSum := sha256.Sum256(inner[:sha256.BlockSize+n])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], h.opad[:])
	copy(outer[sha256.BlockSize:], innerSum[:])
	return sha256.Sum256(outer[:])
}
