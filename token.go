package keys

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"math/big"
)

// Token layout, by position (never split on "_", which base62 lacks but a
// hostile token may hold anywhere):
//
//	sk_live_ | 43 base62 chars: 32 random bytes | 6 base62 chars: CRC32
//	0        8                                  51                      57
//
// The checksum (GitHub's scheme) lets a typo or a made-up token fail before
// any store access.
const (
	envPrefixLen = len("sk_live_")
	bodyLen      = 43 // 62^43 > 2^256: 32 random bytes, zero-padded
	checksumLen  = 6  // 62^6 > 2^32
	tokenLen     = envPrefixLen + bodyLen + checksumLen
	secretBytes  = 32
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// isBase62 is a lookup table: isBase62[c] reports whether c is in the
// alphabet.
var isBase62 = func() (t [256]bool) {
	for i := range len(base62Alphabet) {
		t[base62Alphabet[i]] = true
	}
	return t
}()

// tokenFormat holds the environment prefix ("sk_live_" or "sk_test_") of a
// Manager and builds and checks tokens with it.
type tokenFormat struct {
	prefix string
	// tagger, if set, holds the tag key (as HMAC pads) and tags every new
	// token (tokentag.go).
	tagger *hasher
}

// newToken returns a fresh token from crypto/rand.
func (f tokenFormat) newToken() (string, error) {
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("keys: reading random bytes: %w", err)
	}
	if f.tagger != nil {
		tag(f.tagger, &raw)
	}
	buf := make([]byte, tokenLen)
	copy(buf, f.prefix)
	encodeBase62(buf[envPrefixLen:envPrefixLen+bodyLen], new(big.Int).SetBytes(raw[:]))
	sum := crc32.ChecksumIEEE(buf[:envPrefixLen+bodyLen])
	encodeChecksum((*[checksumLen]byte)(buf[envPrefixLen+bodyLen:]), sum)
	return string(buf), nil
}

// check reports whether token has this format's exact shape and a valid
// checksum. It neither allocates nor touches a store.
func (f tokenFormat) check(token string) bool {
	if len(token) != tokenLen || token[:envPrefixLen] != f.prefix {
		return false
	}
	for i := envPrefixLen; i < tokenLen; i++ {
		if !isBase62[token[i]] {
			return false
		}
	}
	var want [checksumLen]byte
	encodeChecksum(&want, crcString(token[:envPrefixLen+bodyLen]))
	return token[envPrefixLen+bodyLen:] == string(want[:])
}

// encodeBase62 writes n into dst in base62, most significant digit first,
// padded with '0'. n must fit; it is consumed.
func encodeBase62(dst []byte, n *big.Int) {
	base := big.NewInt(62)
	rem := new(big.Int)
	for i := len(dst) - 1; i >= 0; i-- {
		n.DivMod(n, base, rem)
		dst[i] = base62Alphabet[rem.Int64()]
	}
}

func encodeChecksum(dst *[checksumLen]byte, sum uint32) {
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = base62Alphabet[sum%62]
		sum /= 62
	}
}

// crcTables are the slicing-by-8 tables for CRC-32 (IEEE), as hash/crc32
// builds internally.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return t
}()

// crcString is crc32.ChecksumIEEE over a string. hash/crc32 takes a []byte,
// and the conversion escapes through its function-pointer dispatch, so it
// allocates on every call; this slicing-by-8 loop does not, and runs the 51
// bytes of a token in about a third of the time of a byte-wise loop.
func crcString(s string) uint32 {
	t := &crcTables
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][(crc>>16)&0xff] ^ t[6][(crc>>8)&0xff] ^ t[7][crc&0xff]
		s = s[8:]
	}
	for i := range len(s) {
		crc = t[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}
