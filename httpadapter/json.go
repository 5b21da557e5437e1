package httpadapter

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// The bodies are built by appending to a byte slice rather than through
// encoding/json: they are small and fixed, and the hand-written encoder is
// checked byte for byte against encoding/json in json_test.go.

const reissueMessage = "Store this key securely. It will not be shown again."

// Header values shared by every response. They are assigned to the header
// map directly, which saves an allocation per header; nothing in this
// package mutates them, and Header.Set or Add by a host replaces or
// copies them rather than writing into them.
var (
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	nosniff         = []string{"nosniff"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns the buffer to the pool, keeping b's growth unless it grew
// past anything a body of this package needs.
func putBuf(p *[]byte, b []byte) {
	if cap(b) > 64<<10 {
		return
	}
	*p = b[:0]
	bufPool.Put(p)
}

// writeJSON writes body as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	hdr["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the client has gone; nothing to do
}

// appendKeyBody appends {"key":{…13 fields…}} for k. active is whether k
// may be used now.
func appendKeyBody(b []byte, k *keys.Key, active bool) []byte {
	b = append(b, `{"key":{"id":"`...)
	b = appendUUID(b, k.ID)
	b = append(b, `","key_prefix":`...)
	b = appendString(b, k.Prefix)
	b = append(b, `,"name":`...)
	if k.Name == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, k.Name)
	}
	b = append(b, `,"root_key_id":"`...)
	b = appendUUID(b, k.RootKeyID)
	b = append(b, `","is_root_key":`...)
	b = strconv.AppendBool(b, k.IsRoot)
	b = append(b, `,"is_active":`...)
	b = strconv.AppendBool(b, active)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, k.CreatedAt)
	b = append(b, `,"last_used_at":`...)
	b = appendTimePtr(b, k.LastUsedAt)
	b = append(b, `,"expires_at":`...)
	if active {
		// A retiring key (in the grace of a reissue) shows when it stops:
		// the earlier of its own expiry and the grace end.
		b = appendTimePtr(b, k.StopsAt())
	} else {
		b = appendTimePtr(b, k.ExpiresAt)
	}
	b = append(b, `,"quota_requests_per_month_override":`...)
	if p := k.RequestsPerMonthOverride; p != nil {
		b = strconv.AppendInt(b, *p, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rate_requests_per_minute_override":`...)
	if p := k.RequestsPerMinuteOverride; p != nil {
		b = strconv.AppendInt(b, int64(*p), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"effective_quota_requests_per_month":`...)
	b = strconv.AppendInt(b, k.Effective.RequestsPerMonth, 10)
	b = append(b, `,"effective_rate_requests_per_minute":`...)
	b = strconv.AppendInt(b, int64(k.Effective.RequestsPerMinute), 10)
	return append(b, "}}"...)
}

// writeSecret answers with b, a body that shows a new token and was built
// in buf (from getBuf): the only time the token is shown, so the answer
// must not be cached, and b is wiped once written.
func writeSecret(w http.ResponseWriter, status int, buf *[]byte, b []byte) {
	hdr := w.Header()
	hdr["Cache-Control"] = noStore
	hdr["Pragma"] = noCache
	writeJSON(w, status, b)
	clear(b) // the only copy of the secret in this process, besides the keys.Issued
	putBuf(buf, b)
}

// appendReissueBody appends the answer to a reissue: the new token, once.
func appendReissueBody(b []byte, iss *keys.Issued) []byte { return appendIssued(b, iss, false) }

// appendIssued appends the answer that shows a new token, once; with
// child, that of a new child key, which names its root key too.
func appendIssued(b []byte, iss *keys.Issued, child bool) []byte {
	b = append(b, `{"key":`...)
	b = appendString(b, iss.Secret)
	b = append(b, `,"key_prefix":`...)
	b = appendString(b, iss.Key.Prefix)
	b = append(b, `,"id":"`...)
	b = appendUUID(b, iss.Key.ID)
	if child {
		b = append(b, `","root_key_id":"`...)
		b = appendUUID(b, iss.Key.RootKeyID)
	}
	b = append(b, `","created_at":`...)
	b = appendTime(b, iss.Key.CreatedAt)
	b = append(b, `,"message":`...)
	b = appendString(b, reissueMessage)
	return append(b, '}')
}

// appendErrorBody appends {"error":{"code":…,"message":…}}.
func appendErrorBody(b []byte, code, msg string) []byte {
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, "}}"...)
}

// appendTime appends t as a JSON string in RFC 3339, UTC, whole seconds
// (truncated).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		// Not representable in RFC 3339; fall back to what time does.
		b = append(b, '"')
		b = t.Truncate(time.Second).AppendFormat(b, time.RFC3339)
		return append(b, '"')
	}
	h, mi, s := t.Clock()
	b = append(b, '"')
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	return append(b, 'Z', '"')
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func append4(b []byte, n int) []byte { return append2(append2(b, n/100), n%100) }

func appendTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

// appendUUID appends the canonical 36-character form of id, without quotes
// and without the allocation of id.String.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

// appendString appends s as a JSON string exactly as encoding/json does by
// default: quotes, backslashes and control characters escaped, '<', '>'
// and '&' escaped for HTML safety, U+2028 and U+2029 escaped, and invalid
// UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
