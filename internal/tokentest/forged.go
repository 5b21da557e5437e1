package tokentest

import (
	"crypto/rand"
	"hash/crc32"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Forged returns a new sk_live_ token that passes the format and checksum
// checks (so it reaches the lookup) but that no key has and whose keyed
// tag does not verify: a random 43-digit body below 2^256, then the
// CRC-32 of prefix and body in six base62 digits.
func Forged() string {
	var body [43]byte
	_, _ = rand.Read(body[:])
	for i := range body {
		body[i] = base62[int(body[i])%62]
	}
	body[0] = '0' // keep the body under 2^256
	s := "sk_live_" + string(body[:])
	sum := crc32.ChecksumIEEE([]byte(s))
	var cs [6]byte
	for i := 5; i >= 0; i-- {
		cs[i] = base62[sum%62]
		sum /= 62
	}
	return s + string(cs[:])
}
