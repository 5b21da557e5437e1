package main

import (
	"bytes"
	"errors"
	"io"

	"github.com/keyward/keys"
)

// The token finder of keys scan. It finds exactly what keys.TokenPattern
// matches (scanfind_test.go checks it against the regular expression), but
// by hand: regexp ran at 11-17 MB/s on log text here, while bytes.Index finds
// the "sk_" of a candidate at memory speed, and scanning is the whole job.

// scanBufSize is the read buffer of one file: large enough that reads are
// cheap, small enough that a large file never sits in memory.
const scanBufSize = 1 << 20

// binarySniff is how much of a file's start is checked for a NUL byte, as
// git and grep do, to tell binary files from text.
const binarySniff = 8000

var errBinary = errors.New("binary file")

// window is a token and the byte after it, which decides its right
// boundary.
const window = keys.TokenLen + 1

// isWord reports whether c is a word character for \b: [0-9A-Za-z_].
var isWord = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c], t[c+'a'-'A'] = true, true
	}
	t['_'] = true
	return t
}()

// findTokens reads r through buf and calls emit with every match of
// keys.TokenPattern and its 1-based line, in order. The slice given to emit
// is valid only during the call. A token split across two reads is found
// all the same: the last window-1 bytes of each buffer are carried over. It
// returns errBinary, having emitted nothing, if the first binarySniff bytes
// hold a NUL.
func findTokens(r io.Reader, buf []byte, emit func(tok []byte, line int)) error {
	if len(buf) < 2*window {
		return errors.New("scan buffer too small")
	}
	var (
		n       int // valid bytes in buf
		start   int // first position not yet examined as a token start
		counted int // newlines in buf[:counted] are in line
		line    = 1 // line number at buf[counted]
		first   = true
		eof     bool // r is exhausted
	)
	for {
		m, err := io.ReadFull(r, buf[n:])
		n += m
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		case err != nil:
			return err
		}
		if first {
			first = false
			if bytes.IndexByte(buf[:min(n, binarySniff)], 0) >= 0 {
				return errBinary
			}
		}
		// Starts before limit have their whole window in buf (or the file
		// ends within it).
		limit := n
		if !eof {
			limit = n - window + 1
		}
		i := start
		for i < limit {
			j := bytes.Index(buf[i:n], []byte("sk_"))
			if j < 0 {
				break
			}
			i += j
			if i >= limit {
				break
			}
			if tokenAt(buf[:n], i) {
				line += bytes.Count(buf[counted:i], []byte{'\n'})
				counted = i
				emit(buf[i:i+keys.TokenLen], line)
				i += keys.TokenLen
				continue
			}
			i++
		}
		if eof {
			return nil
		}
		// Carry the unexamined tail, and the byte before it for the left
		// boundary, to the front of buf.
		keep := limit - 1
		line += bytes.Count(buf[counted:keep], []byte{'\n'})
		start = max(i, limit) - keep
		n = copy(buf, buf[keep:n])
		counted = 0
	}
}

// tokenAt reports whether a match of keys.TokenPattern starts at b[i],
// where b[i:] begins with "sk_".
func tokenAt(b []byte, i int) bool {
	if i > 0 && isWord[b[i-1]] {
		return false
	}
	end := i + keys.TokenLen
	if end > len(b) {
		return false
	}
	env := b[i+3 : i+8]
	if string(env) != "live_" && string(env) != "test_" {
		return false
	}
	for _, c := range b[i+8 : end] {
		if !isWord[c] || c == '_' {
			return false
		}
	}
	return end == len(b) || !isWord[b[end]]
}
