package httpadapter_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// FuzzReissueBody throws arbitrary bodies at the reissue route, by a
// session and by a root key: nothing may panic or answer 5xx, and every
// refusal is a contract error.
func FuzzReissueBody(f *testing.F) {
	fx := newFixture(f, keys.Config{}, httpadapter.Options{MaxBodyBytes: 4096,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	fx.account(f, "acct_1", keys.Quant, true)
	for _, b := range []string{"", "{}", "null", "[]", `{"grace_period_seconds":3600}`, `{"if_root_key_id":"none"}`,
		`{"grace_period_seconds":1e400}`, `{"if_root_key_id":"01959a61-0c3e-7f1b-8d4a-2b6e9f0c1d38"}`,
		`{"grace_period_seconds":604800,"if_root_key_id":null}`, `{"a":1}`, `{"grace_period_seconds":"1"}`, "{\"\xff\":1}"} {
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, body string, byKey bool) {
		token := "session-acct_1"
		if byKey {
			iss, err := fx.m.Reissue(t.Context(), "acct_1")
			if err != nil {
				t.Skip("reissue:", err) // rate or store state; not what is tested
			}
			token = iss.Secret
		}
		fx.clock.Add(1e9) // a second, so the rate refills
		hr := httptest.NewRequest("POST", "/account/key/reissue", strings.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		fx.mux.ServeHTTP(rec, hr)
		switch rec.Code {
		case 200:
		case 400:
			checkError(t, rec, 400, "invalid_request")
		case 409:
			checkError(t, rec, 409, "root_key_changed")
		case 413:
			checkError(t, rec, 413, "request_too_large")
		case 429:
			checkError(t, rec, 429, "rate_limited")
		default:
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}
