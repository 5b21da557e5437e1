package httpadapter_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// TestStoreFailure proves that a store failure anywhere on a request's
// path is a clean 500 internal_error: the generic body, nothing of the
// error's text, the error logged (without the token) and handed to the
// ErrorHandler for logging.
func TestStoreFailure(t *testing.T) {
	const wantBody = `{"error":{"code":"internal_error","message":"Internal server error."}}`
	tests := []struct {
		name   string
		method string // the store method that fails
		r      func(root string) req
	}{
		{"key GET, resolving the key", "ResolveHash",
			func(root string) req { return req{path: "/account/key", auth: bearer(root)} }},
		{"key GET, reading usage for the rate", "Usage",
			func(root string) req { return req{path: "/account/key", auth: bearer(root)} }},
		{"session GET, reading the account", "Account",
			func(string) req { return req{path: "/account/key", auth: bearer("session-acct_1")} }},
		{"session GET, reading the root key", "ActiveRootKey",
			func(string) req { return req{path: "/account/key", auth: bearer("session-acct_1")} }},
		{"session reissue, reading the root key", "ActiveRootKey",
			func(string) req {
				return req{method: "POST", path: "/account/key/reissue", auth: bearer("session-acct_1")}
			}},
		{"session reissue, replacing the root key", "ReplaceRootKey",
			func(string) req {
				return req{method: "POST", path: "/account/key/reissue", auth: bearer("session-acct_1")}
			}},
		{"key reissue, replacing the root key", "ReplaceRootKey",
			func(root string) req { return req{method: "POST", path: "/account/key/reissue", auth: bearer(root)} }},
		{"key reissue, reading the account", "Account",
			func(root string) req { return req{method: "POST", path: "/account/key/reissue", auth: bearer(root)} }},
		{"data route, resolving the key", "ResolveHash",
			func(root string) req { return req{path: "/v1/x", auth: bearer(root)} }},
		{"data route, reading usage", "Usage",
			func(root string) req { return req{path: "/v1/x", auth: bearer(root)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *httpadapter.Error
			f := newFixture(t, keys.Config{}, httpadapter.Options{
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *httpadapter.Error) {
					seen = e
					httpadapter.DefaultErrorHandler(w, r, e)
				},
			})
			f.account(t, "acct_1", keys.Pro, true)
			root := f.reissue(t, "acct_1").Secret
			// Cold: the key is neither cached nor has limit state yet.
			f.st.setFail(tt.method, true)
			rec := f.do(tt.r(root))
			checkError(t, rec, http.StatusInternalServerError, httpadapter.CodeInternal)
			if rec.Body.String() != wantBody {
				t.Errorf("body = %s, want %s", rec.Body, wantBody)
			}
			for _, leak := range []string{"SELECT", "pq:", "relation", "store"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("body leaks %q: %s", leak, rec.Body)
				}
			}
			if seen == nil || !errors.Is(seen, errStoreDown) {
				t.Errorf("ErrorHandler did not get the store error: %v", seen)
			}
			logs := f.logs.String()
			if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "SELECT hash") {
				t.Errorf("store failure not logged at Error level with its cause: %s", logs)
			}
			if strings.Contains(logs, root) {
				t.Errorf("the token was logged: %s", logs)
			}
			// The store recovers, so does the endpoint.
			f.st.setFail(tt.method, false)
			if rec := f.do(tt.r(root)); rec.Code >= 500 {
				t.Errorf("after recovery: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
