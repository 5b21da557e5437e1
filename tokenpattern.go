package keys

// TokenPattern is the regular expression of a token in text, for secret
// scanners (GitHub secret scanning, gitleaks, trufflehog, keys scan): the
// environment prefix, 43 base62 characters of secret and 6 of checksum,
// standing alone as a word. A match is only a candidate: WellFormedToken
// checks its checksum, which a made-up string of this shape fails with
// probability 1 - 62^-6.
//
// It is RE2 syntax and also valid for PCRE and POSIX ERE with \b.
const TokenPattern = `\bsk_(?:live|test)_[0-9A-Za-z]{49}\b`

// TokenLen is the length of every token in bytes.
const TokenLen = tokenLen

var (
	liveFormat = tokenFormat{prefix: "sk_live_"}
	testFormat = tokenFormat{prefix: "sk_test_"}
)

// WellFormedToken reports whether s is exactly one token of either
// environment (sk_live_ or sk_test_) with a valid checksum. It needs no
// Manager and no store, so scanners can tell real tokens from look-alikes
// offline; a well-formed token may still be unknown, revoked or expired.
func WellFormedToken(s string) bool {
	return liveFormat.check(s) || testFormat.check(s)
}
