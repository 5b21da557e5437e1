package httpadapter

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keys"
)

// CodeKeyNotFound is the code of a 404 for a key ID that is not one of
// the caller's account's keys (another account's key included, so that
// key IDs cannot be probed).
const CodeKeyNotFound = "key_not_found"

// errBadField is a 400 invalid_request whose message names the field at
// fault, with the error behind it for the log.
func errBadField(msg string, err error) *Error {
	e := errInvalidRequest(msg)
	e.Err = err
	return e
}

func errKeyNotFound(err error) *Error {
	return newError(http.StatusNotFound, CodeKeyNotFound, "No key with this ID exists in the account.", err)
}

func errManageForbidden(err error) *Error {
	return newError(http.StatusForbidden, CodeChildKeyForbidden,
		"A child key cannot manage keys; use the root key or a session.", err)
}

func errAuditForbidden(err error) *Error {
	return newError(http.StatusForbidden, CodeChildKeyForbidden,
		"A child key cannot read the audit trail; use the root key or a session.", err)
}

// mgmtError turns an error of the Manager on a key-management route into
// its answer: the codes these routes add, then what fromKeys knows.
// noActiveKey is the status of ErrNoActiveRootKey: 409 where a new child
// needs the root, 404 elsewhere.
func mgmtError(err error, noActiveKey int) *Error {
	switch {
	case errors.Is(err, keys.ErrInvalidArgument):
		return errBadField(invalidMessage(err), err)
	case errors.Is(err, keys.ErrKeyNotFound):
		return errKeyNotFound(err)
	case errors.Is(err, keys.ErrRootKeyRetired):
		return errRootKeyRetired(err)
	case errors.Is(err, keys.ErrNoActiveRootKey):
		e := fromKeys(err)
		if noActiveKey == http.StatusConflict {
			e.Status, e.Message = http.StatusConflict, "The account has no active root key to issue a child key from; reissue the root key first."
		}
		return e
	}
	return fromKeys(err)
}

// invalidMessage is the client's message for an ErrInvalidArgument of the
// Manager: its detail, which describes only the client's own input, with
// the Manager's wording of a field replaced by the field's JSON name.
func invalidMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, keys.ErrInvalidArgument.Error()+": "); i >= 0 {
		msg = msg[i+len(keys.ErrInvalidArgument.Error())+2:]
	}
	// Drop a wrapped sentinel's own text, "(keys: …)", at the end.
	if i := strings.Index(msg, " (keys: "); i >= 0 {
		msg = msg[:i]
	}
	for _, r := range fieldNames {
		if strings.HasPrefix(msg, r[0]) {
			msg = r[1] + msg[len(r[0]):]
			break
		}
	}
	if msg == "" {
		return "The request is not valid."
	}
	return msg
}

// fieldNames maps how the Manager's errors begin to the JSON field they
// are about.
var fieldNames = [][2]string{
	{"allowed networks", "allowed_networks"},
	{"monthly quota override", "quota_requests_per_month_override"},
	{"per-minute rate override", "rate_requests_per_minute_override"},
	{"expiry", "expires_at"},
}
