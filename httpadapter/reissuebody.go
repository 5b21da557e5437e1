package httpadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

// reqBody is a request body as read before the credentials are checked:
// its bytes, or why it could not be used, reported only once the request
// is authorised (DESIGN 5.6's order of checks).
type reqBody struct {
	data []byte
	// refused is the 400 to answer at the content stage: a body that
	// failed to read, or one sent while MaxBodyBytes < 0.
	refused *Error
}

// readBody reads the request body, at most h.maxBody bytes; a longer one
// is refused at once with 413.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*reqBody, *Error) {
	b := &reqBody{}
	if r.Body == nil || r.Body == http.NoBody {
		return b, nil
	}
	if h.maxBody < 0 {
		if r.ContentLength != 0 {
			b.refused = errInvalidRequest("This endpoint takes no request body here.")
		}
		return b, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, errTooLarge(nil)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return nil, errTooLarge(err)
	}
	if err != nil {
		e := errInvalidRequest("The request body could not be read.")
		e.Err = err
		b.refused = e
		return b, nil
	}
	b.data = data
	return b, nil
}

// reissueRequest is the body of POST /account/key/reissue.
type reissueRequest struct {
	GracePeriodSeconds *int64  `json:"grace_period_seconds"`
	IfRootKeyID        *string `json:"if_root_key_id"`
}

const (
	graceFieldMsg  = "grace_period_seconds must be a whole number of seconds from 0 to 604800 (7 days)."
	ifRootFieldMsg = `if_root_key_id must be a key ID (a UUID) or "none".`
)

// reissueOptions decodes the reissue body: empty means no option; anything
// but a JSON object of the two known fields is 400 invalid_request naming
// the field. Unknown fields are refused, so that a misspelt
// grace_period_seconds does not turn into an immediate reissue.
func (b *reqBody) reissueOptions() ([]keys.ReissueOption, *Error) {
	if b.refused != nil {
		return nil, b.refused
	}
	data := bytes.TrimSpace(b.data)
	if len(data) == 0 {
		return nil, nil
	}
	if data[0] != '{' {
		return nil, errInvalidRequest("The request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req reissueRequest
	if err := dec.Decode(&req); err != nil {
		return nil, bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errInvalidRequest("The request body must be one JSON object and nothing after it.")
	}
	var opts []keys.ReissueOption
	if g := req.GracePeriodSeconds; g != nil {
		// Compared in seconds: multiplying first would wrap a huge value
		// into a short grace.
		if *g < 0 || *g > int64(keys.MaxGrace/time.Second) {
			return nil, errInvalidRequest(graceFieldMsg)
		}
		opts = append(opts, keys.WithGrace(time.Duration(*g)*time.Second))
	}
	if c := req.IfRootKeyID; c != nil {
		if *c == "none" {
			opts = append(opts, keys.IfNoRoot())
		} else {
			id, err := uuid.Parse(*c)
			if err != nil || id == uuid.Nil {
				return nil, errInvalidRequest(ifRootFieldMsg)
			}
			opts = append(opts, keys.IfRoot(id))
		}
	}
	return opts, nil
}

// bodyError turns a decoding error into a 400 that names the field, never
// quoting the decoder's text beyond a field name.
func bodyError(err error) *Error {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field == "grace_period_seconds":
		return errInvalidRequest(graceFieldMsg)
	case errors.As(err, &te) && te.Field == "if_root_key_id":
		return errInvalidRequest(ifRootFieldMsg)
	case strings.HasPrefix(err.Error(), `json: unknown field "`):
		name := strings.TrimSuffix(strings.TrimPrefix(err.Error(), `json: unknown field "`), `"`)
		if len(name) > 64 {
			name = name[:64] + "…"
		}
		return errInvalidRequest(`Unknown field "` + name + `": this endpoint takes grace_period_seconds and if_root_key_id.`)
	default:
		return errInvalidRequest("The request body is not valid JSON.")
	}
}
