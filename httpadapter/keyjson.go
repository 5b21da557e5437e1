package httpadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// The JSON of the key-management routes. Bodies are decoded field by field
// from a JSON object so that an error names its field and a field can be
// told absent (unchanged) from null (cleared); unknown fields are ignored,
// so a client may send fields a later version adds.

// appendK appends the key object K: the 13 fields of GET /account/key's
// key, then scopes, metadata, allowed_networks and revoked_at. A retiring
// key's expires_at is the earlier of its own expiry and its grace end (its
// revoked_at); a revoked key shows its own expiry.
func appendK(b []byte, k *keys.Key, now time.Time) []byte {
	shown := *k
	if k.Retiring(now) {
		shown.ExpiresAt = k.StopsAt()
	}
	b = appendKeyBody(b, &shown, k.Active(now))
	b = b[:len(b)-2] // reopen {"key":{…}} after its last field
	b = append(b, `,"scopes":`...)
	b = appendStrings(b, k.Scopes)
	b = append(b, `,"metadata":`...)
	if k.Metadata == nil {
		b = append(b, "null"...)
	} else {
		// encoding/json sorts the keys: a stable order for clients and
		// tests.
		mb, _ := json.Marshal(k.Metadata) // a map of strings always marshals
		b = append(b, mb...)
	}
	b = append(b, `,"allowed_networks":`...)
	if k.AllowedNetworks == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range k.AllowedNetworks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = p.AppendTo(b)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	b = append(b, `,"revoked_at":`...)
	b = appendTimePtr(b, k.RevokedAt)
	return append(b, "}}"...)
}

// appendKObject appends K without the {"key":…} wrapper.
func appendKObject(b []byte, k *keys.Key, now time.Time) []byte {
	start := len(b)
	b = appendK(b, k, now)
	// Cut `{"key":` off the front and the wrapper's closing brace.
	n := copy(b[start:], b[start+len(`{"key":`):len(b)-1])
	return b[:start+n]
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendIssuedChild appends the answer to POST /account/keys: the new
// token, once.
func appendIssuedChild(b []byte, iss *keys.Issued) []byte { return appendIssued(b, iss, true) }

// fields are the members of a JSON object body, undecoded.
type fields map[string]json.RawMessage

// parseObject decodes a body that must be a JSON object; an empty body is
// the empty object.
func parseObject(body []byte) (fields, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return fields{}, nil
	}
	var f fields
	if err := json.Unmarshal(body, &f); err != nil || f == nil {
		return nil, errBadField("The request body must be a JSON object.", err)
	}
	return f, nil
}

// isNull reports whether a present member is JSON null.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func fieldError(name, want string, err error) *Error {
	return errBadField(fmt.Sprintf("%s must be %s.", name, want), err)
}

// str decodes member name as a string; null is "".
func (f fields) str(name string) (keys.Change[string], *Error) {
	raw, ok := f[name]
	if !ok {
		return keys.Change[string]{}, nil
	}
	if isNull(raw) {
		return keys.To(""), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return keys.Change[string]{}, fieldError(name, "a string or null", err)
	}
	return keys.To(s), nil
}

// timePtr decodes member name as an RFC 3339 time or null.
func (f fields) timePtr(name string) (keys.Change[*time.Time], *Error) {
	raw, ok := f[name]
	if !ok {
		return keys.Change[*time.Time]{}, nil
	}
	if isNull(raw) {
		return keys.To[*time.Time](nil), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	var t time.Time
	if err == nil {
		t, err = time.Parse(time.RFC3339, s)
	}
	if err != nil {
		return keys.Change[*time.Time]{}, fieldError(name, "an RFC 3339 time such as 2026-12-31T23:59:59Z, or null", err)
	}
	return keys.To(&t), nil
}

// int64Ptr decodes member name as an integer or null.
func (f fields) int64Ptr(name string) (keys.Change[*int64], *Error) {
	raw, ok := f[name]
	if !ok {
		return keys.Change[*int64]{}, nil
	}
	if isNull(raw) {
		return keys.To[*int64](nil), nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return keys.Change[*int64]{}, fieldError(name, "an integer or null", err)
	}
	return keys.To(&n), nil
}

// intPtr decodes member name as an integer that fits an int, or null.
func (f fields) intPtr(name string) (keys.Change[*int], *Error) {
	c, e := f.int64Ptr(name)
	if e != nil || !c.Set || c.Value == nil {
		return keys.Change[*int]{Set: c.Set}, e
	}
	n := int(*c.Value)
	if int64(n) != *c.Value {
		return keys.Change[*int]{}, fieldError(name, "an integer or null", nil)
	}
	return keys.To(&n), nil
}

// strings decodes member name as an array of strings or null.
func (f fields) strings(name string) (keys.Change[[]string], *Error) {
	raw, ok := f[name]
	if !ok {
		return keys.Change[[]string]{}, nil
	}
	if isNull(raw) {
		return keys.To[[]string](nil), nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil || ss == nil {
		return keys.Change[[]string]{}, fieldError(name, "an array of strings or null", err)
	}
	return keys.To(ss), nil
}

// stringMap decodes member name as an object of strings; null is the
// empty map (no metadata).
func (f fields) stringMap(name string) (keys.Change[map[string]string], *Error) {
	raw, ok := f[name]
	if !ok {
		return keys.Change[map[string]string]{}, nil
	}
	if isNull(raw) {
		return keys.To[map[string]string](nil), nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return keys.Change[map[string]string]{}, fieldError(name, "an object of strings or null", err)
	}
	return keys.To(m), nil
}

// prefixes decodes member name as an array of CIDR strings or null.
func (f fields) prefixes(name string) (keys.Change[[]netip.Prefix], *Error) {
	c, e := f.strings(name)
	if e != nil {
		return keys.Change[[]netip.Prefix]{}, fieldError(name, "an array of CIDR prefixes such as \"10.0.0.0/8\", or null", e.Err)
	}
	if !c.Set || c.Value == nil {
		return keys.Change[[]netip.Prefix]{Set: c.Set}, nil
	}
	ps := make([]netip.Prefix, len(c.Value))
	for i, s := range c.Value {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return keys.Change[[]netip.Prefix]{}, errBadField(
				fmt.Sprintf("%s[%d] is not a CIDR prefix such as \"10.0.0.0/8\".", name, i), err)
		}
		ps[i] = p
	}
	return keys.To(ps), nil
}

// keyUpdate decodes a PATCH body.
func keyUpdate(f fields) (u keys.KeyUpdate, e *Error) {
	if u.Name, e = f.str("name"); e != nil {
		return u, e
	}
	if u.Metadata, e = f.stringMap("metadata"); e != nil {
		return u, e
	}
	if u.Scopes, e = f.strings("scopes"); e != nil {
		return u, e
	}
	if u.ExpiresAt, e = f.timePtr("expires_at"); e != nil {
		return u, e
	}
	if u.RequestsPerMonth, e = f.int64Ptr("quota_requests_per_month_override"); e != nil {
		return u, e
	}
	if u.RequestsPerMinute, e = f.intPtr("rate_requests_per_minute_override"); e != nil {
		return u, e
	}
	u.AllowedNetworks, e = f.prefixes("allowed_networks")
	return u, e
}

// childOptions decodes a POST body: the fields of a PATCH, where null
// and absent both mean "none".
func childOptions(f fields) (keys.ChildOptions, *Error) {
	u, e := keyUpdate(f)
	if e != nil {
		return keys.ChildOptions{}, e
	}
	return keys.ChildOptions{
		Name:              u.Name.Value,
		ExpiresAt:         u.ExpiresAt.Value,
		RequestsPerMonth:  u.RequestsPerMonth.Value,
		RequestsPerMinute: u.RequestsPerMinute.Value,
		Scopes:            u.Scopes.Value,
		Metadata:          u.Metadata.Value,
		AllowedNetworks:   u.AllowedNetworks.Value,
	}, nil
}

// parseKeyID parses the {id} of /account/keys/{id}: a UUID in its
// canonical 36-character form.
func parseKeyID(s string) (uuid.UUID, *Error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, errBadField("The key ID in the path must be a UUID such as 0192f6c4-8c1e-7d3a-9b2f-3c4d5e6f7a8b.", err)
	}
	return id, nil
}

// pageOptions parses ?limit=, ?cursor= and ?include_revoked=.
func pageOptions(r *http.Request) (keys.Page, *Error) {
	var o keys.Page
	q := r.URL.Query()
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > keys.MaxPageLimit || len(vs) > 1 {
			return o, errBadField(fmt.Sprintf("limit must be one integer from 1 to %d.", keys.MaxPageLimit), err)
		}
		o.Limit = n
	}
	if vs, ok := q["cursor"]; ok {
		if len(vs) > 1 || vs[0] == "" {
			return o, errBadField("cursor must be the next_cursor of a previous page.", nil)
		}
		o.Cursor = vs[0]
	}
	if vs, ok := q["include_revoked"]; ok {
		switch {
		case len(vs) == 1 && vs[0] == "true":
			o.IncludeRevoked = true
		case len(vs) == 1 && vs[0] == "false":
		default:
			return o, errBadField("include_revoked must be true or false.", nil)
		}
	}
	return o, nil
}

// usageMonth parses ?month=YYYY-MM; absent is the zero time, the current
// month.
func usageMonth(r *http.Request) (time.Time, *Error) {
	vs, ok := r.URL.Query()["month"]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01", vs[0])
	if err != nil || len(vs) > 1 || len(vs[0]) != 7 || t.Year() < 1970 {
		return time.Time{}, errBadField("month must be a calendar month such as 2026-11.", err)
	}
	return t, nil
}
