package ui

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed assets/keys.js
var script []byte

// Script returns the component's JavaScript. The slice is shared: do not
// modify it.
func Script() []byte { return script }

// hash is the first 12 hex digits of the script's SHA-256: enough to tell
// versions apart in a cache, short enough for a URL.
var hash = func() string {
	sum := sha256.Sum256(script)
	return hex.EncodeToString(sum[:6])
}()

// HashedName is the script's file name with its content hash in it,
// "keys.<hash>.js": a response under it never changes, so it is cached for
// a year.
func HashedName() string { return "keys." + hash + ".js" }

// PlainName is the script's file name without the hash; it is served with
// revalidation, for pages that cannot know the hash.
const PlainName = "keys.js"

var etag = `"` + hash + `"`

// Serve answers a GET or HEAD for name, which is HashedName() or
// PlainName, and reports whether it knew the name. Any other method on a
// known name is the caller's to refuse.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	hdr := w.Header()
	switch name {
	case HashedName():
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	case PlainName:
		hdr.Set("Cache-Control", "no-cache")
	default:
		return false
	}
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", etag)
	// The script sends no cookies of its own and may be loaded by any page
	// of the host; it carries no account data.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(script))
	return true
}

// Size is the script's length in bytes.
func Size() int { return len(script) }
