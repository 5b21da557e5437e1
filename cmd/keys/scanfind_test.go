package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keyward/keys"
)

// A token with a valid shape (the finder does not check checksums).
var shapeToken = "sk_live_" + strings.Repeat("Ab3", 16) + "x"

// regexpFind is the reference: every match of keys.TokenPattern with its
// line.
func regexpFind(text []byte) []string {
	re := regexp.MustCompile(keys.TokenPattern)
	var out []string
	for _, loc := range re.FindAllIndex(text, -1) {
		line := 1 + bytes.Count(text[:loc[0]], []byte{'\n'})
		out = append(out, string(text[loc[0]:loc[1]])+"@"+strconv.Itoa(line))
	}
	return out
}

func finderFind(t *testing.T, text []byte, bufSize int, oneByte bool) []string {
	t.Helper()
	var out []string
	r := bytes.NewReader(text)
	var rd io.Reader = r
	if oneByte {
		rd = iotest.OneByteReader(r)
	}
	err := findTokens(rd, make([]byte, bufSize), func(tok []byte, line int) {
		out = append(out, string(tok)+"@"+strconv.Itoa(line))
	})
	if err != nil {
		t.Fatalf("findTokens: %v", err)
	}
	return out
}

// randomText mixes tokens, near-tokens and filler so that tokens land on
// every buffer boundary.
func randomText(rng *rand.Rand, size int) []byte {
	pieces := []string{shapeToken, "sk_test_" + shapeToken[8:], "x" + shapeToken, shapeToken + "y", shapeToken + "_",
		shapeToken[:40], "sk_", "sk_live_", "sk_prod_" + shapeToken[8:], "\n", " ", "=", "\"", "_", "a", "sk_live_sk_live_",
		strings.Repeat("z", 30), "-" + shapeToken + "-"}
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.Bytes()
}

func TestFindTokensMatchesTheRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 120 {
		text := randomText(rng, 50+rng.IntN(3000))
		want := regexpFind(text)
		for _, size := range []int{2 * window, 2*window + 1, 200, 1000, 1 << 16} {
			got := finderFind(t, text, size, round%3 == 0)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("round %d, buffer %d: finder found\n%v\nregexp found\n%v", round, size, got, want)
			}
		}
	}
}

func FuzzFindTokens(f *testing.F) {
	f.Add([]byte("key: "+shapeToken+"\n"), 200)
	f.Add([]byte(shapeToken+shapeToken), 2*window)
	f.Fuzz(func(t *testing.T, text []byte, size int) {
		if bytes.IndexByte(text[:min(len(text), binarySniff)], 0) >= 0 {
			return
		}
		size = 2*window + abs(size)%4096
		want := regexpFind(text)
		if got := finderFind(t, text, size, false); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("buffer %d: finder %v, regexp %v", size, got, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1) // never overflows
	}
	return n
}

func TestFindTokensBinary(t *testing.T) {
	text := append([]byte("\x7fELF\x00\x01"), shapeToken...)
	err := findTokens(bytes.NewReader(text), make([]byte, 1024), func([]byte, int) { t.Fatal("emitted from a binary") })
	if err != errBinary {
		t.Fatalf("err = %v, want errBinary", err)
	}
}
