package httpadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// golden sets up DESIGN 1.4's example: a pro account whose root key was
// issued at 10:30:00.75 and last used at 11:15:00.4, and a child with a
// name, an expiry and both overrides, then moves the clock to 11:20.
type golden struct {
	*fixture
	root, child keys.Issued
}

func newGolden(t *testing.T) *golden {
	t.Helper()
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	f.clock.Set(start.Add(750 * time.Millisecond))
	root := f.reissue(t, "acct_1")
	f.clock.Set(start.Add(5*time.Minute + 250*time.Millisecond))
	expires := time.Date(2026, 6, 1, 0, 0, 0, 500, time.UTC)
	child := f.child(t, "acct_1", keys.ChildOptions{
		Name: `ci <"bot"> & co`, ExpiresAt: &expires,
		RequestsPerMonth: ptr(int64(1000)), RequestsPerMinute: ptr(10),
	})
	f.clock.Set(time.Date(2026, 3, 2, 11, 15, 0, 400_000_000, time.UTC))
	for _, tok := range []string{root.Secret, child.Secret} {
		if _, err := f.m.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Past the cache TTL, so the key is read back with its last use.
	f.clock.Set(time.Date(2026, 3, 2, 11, 20, 0, 0, time.UTC))
	return &golden{fixture: f, root: root, child: child}
}

func ptr[T any](v T) *T { return &v }

func TestGetAccountKeyGolden(t *testing.T) {
	g := newGolden(t)
	rootID, childID := g.root.Key.ID.String(), g.child.Key.ID.String()
	rootJSON := `{"key":{"id":"` + rootID + `","key_prefix":"sk_live_root","name":null,"root_key_id":"` + rootID + `",` +
		`"is_root_key":true,"is_active":true,"created_at":"2026-03-02T10:30:00Z",` +
		`"last_used_at":"2026-03-02T11:15:00Z","expires_at":null,` +
		`"quota_requests_per_month_override":null,"rate_requests_per_minute_override":null,` +
		`"effective_quota_requests_per_month":500000,"effective_rate_requests_per_minute":300}}`
	childJSON := `{"key":{"id":"` + childID + `","key_prefix":"sk_live_child",` +
		`"name":"ci \u003c\"bot\"\u003e \u0026 co","root_key_id":"` + rootID + `",` +
		`"is_root_key":false,"is_active":true,"created_at":"2026-03-02T10:35:00Z",` +
		`"last_used_at":"2026-03-02T11:15:00Z","expires_at":"2026-06-01T00:00:00Z",` +
		`"quota_requests_per_month_override":1000,"rate_requests_per_minute_override":10,` +
		`"effective_quota_requests_per_month":1000,"effective_rate_requests_per_minute":10}}`

	tests := []struct {
		name, token, want string
		limit, remaining  string
	}{
		// The rate buckets are full: one request taken leaves limit-1.
		{"session sees the root key", "session-acct_1", rootJSON, "300", "299"},
		{"root key sees itself", g.root.Secret, rootJSON, "300", "298"},
		{"child key sees itself", g.child.Secret, childJSON, "10", "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := g.get("/account/key", tt.token)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			h := rec.Header()
			for k, v := range map[string]string{
				"Content-Type":           "application/json; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
				"X-RateLimit-Limit":      tt.limit,
				"X-RateLimit-Remaining":  tt.remaining,
			} {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			checkRateHeaders(t, rec)
			checkKeyFields(t, rec.Body.Bytes())
			for _, secret := range []string{g.root.Secret, g.child.Secret} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("body holds a secret")
				}
			}
		})
	}
}

// checkKeyFields checks the 13 fields of a key body by decoding it
// generically: every field present, none more.
func checkKeyFields(t *testing.T, body []byte) {
	t.Helper()
	var outer map[string]map[string]any
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatalf("body is not {\"key\":{…}}: %v", err)
	}
	if len(outer) != 1 {
		t.Errorf("top-level fields: %v", outer)
	}
	fields := []string{"id", "key_prefix", "name", "root_key_id", "is_root_key", "is_active", "created_at",
		"last_used_at", "expires_at", "quota_requests_per_month_override", "rate_requests_per_minute_override",
		"effective_quota_requests_per_month", "effective_rate_requests_per_minute"}
	k := outer["key"]
	if len(k) != len(fields) {
		t.Errorf("key has %d fields, want %d: %v", len(k), len(fields), k)
	}
	for _, f := range fields {
		if _, ok := k[f]; !ok {
			t.Errorf("field %q missing", f)
		}
	}
}

func TestGetAccountKeyRateHeaderValues(t *testing.T) {
	g := newGolden(t)
	rec := g.get("/account/key", g.root.Secret)
	// Pro: 300/min, so one request refills in 200ms: the bucket is full
	// again at 11:20:00.2, which rounds up to 11:20:01.
	want := [3]string{"300", "299", fmt.Sprint(time.Date(2026, 3, 2, 11, 20, 1, 0, time.UTC).Unix())}
	if got := rateHeaders(rec); got != want {
		t.Errorf("rate headers = %v, want %v", got, want)
	}
}

func TestHeadAccountKey(t *testing.T) {
	g := newGolden(t)
	rec := g.do(req{method: http.MethodHead, path: "/account/key", auth: bearer(g.root.Secret)})
	if rec.Code != http.StatusOK {
		t.Fatalf("HEAD status %d", rec.Code)
	}
	checkRateHeaders(t, rec)
}

// reissueBody is the exact shape of a reissue answer.
type reissueBody struct {
	Key       string `json:"key"`
	KeyPrefix string `json:"key_prefix"`
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
	Message   string `json:"message"`
}

func TestReissueGolden(t *testing.T) {
	tests := []struct {
		name  string
		token func(g *golden) string
	}{
		{"session", func(*golden) string { return "session-acct_1" }},
		{"root key", func(g *golden) string { return g.root.Secret }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGolden(t)
			g.clock.Set(time.Date(2026, 3, 2, 12, 0, 0, 900_000_000, time.UTC))
			rec := g.do(req{method: http.MethodPost, path: "/account/key/reissue", auth: bearer(tt.token(g)),
				body: strings.NewReader(`{}`)})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var b reissueBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			// The new token authenticates to the ID the body gives.
			k, err := g.m.Authenticate(context.Background(), b.Key)
			if err != nil {
				t.Fatalf("the issued key does not authenticate: %v", err)
			}
			if k.ID.String() != b.ID || !k.IsRoot {
				t.Errorf("issued key is %v, body says id %s", k, b.ID)
			}
			want := `{"key":"` + b.Key + `","key_prefix":"sk_live_root","id":"` + k.ID.String() + `",` +
				`"created_at":"2026-03-02T12:00:00Z",` +
				`"message":"Store this key securely. It will not be shown again."}`
			if got := rec.Body.String(); got != want {
				t.Errorf("body\n got %s\nwant %s", got, want)
			}
			for h, v := range map[string]string{
				"Cache-Control":          "no-store",
				"Pragma":                 "no-cache",
				"Content-Type":           "application/json; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := rec.Header().Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			checkRateHeaders(t, rec)
			// The old keys are gone.
			for _, old := range []string{g.root.Secret, g.child.Secret} {
				checkError(t, g.get("/account/key", old), http.StatusUnauthorized, httpadapter.CodeKeyRevoked)
			}
			// A session now sees the new key.
			rec = g.get("/account/key", "session-acct_1")
			if !strings.Contains(rec.Body.String(), `"id":"`+b.ID+`"`) {
				t.Errorf("session GET after reissue: %s", rec.Body)
			}
		})
	}
}

func TestReissueFirstKeyBySession(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_nokey", keys.Free, true)
	checkError(t, f.get("/account/key", "session-nokey"), http.StatusNotFound, httpadapter.CodeNoActiveKey)
	rec := f.post("/account/key/reissue", "session-nokey")
	if rec.Code != http.StatusOK {
		t.Fatalf("first reissue: %d %s", rec.Code, rec.Body)
	}
	checkRateHeaders(t, rec)
	rec = f.get("/account/key", "session-nokey")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET after first reissue: %d %s", rec.Code, rec.Body)
	}
}

func TestBasePath(t *testing.T) {
	for _, base := range []string{"/api", "/api/", "api"} {
		t.Run(base, func(t *testing.T) {
			f := newFixture(t, keys.Config{}, httpadapter.Options{BasePath: base})
			f.account(t, "acct_1", keys.Pro, true)
			iss := f.reissue(t, "acct_1")
			if rec := f.direct(req{path: "/api/account/key", auth: bearer(iss.Secret)}); rec.Code != http.StatusOK {
				t.Errorf("GET /api/account/key: %d %s", rec.Code, rec.Body)
			}
			checkError(t, f.direct(req{path: "/account/key", auth: bearer(iss.Secret)}),
				http.StatusNotFound, httpadapter.CodeNotFound)
			rec := f.direct(req{method: http.MethodPost, path: "/api/account/key/reissue", auth: bearer(iss.Secret)})
			if rec.Code != http.StatusOK {
				t.Errorf("POST /api/account/key/reissue: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestTestEnvironment(t *testing.T) {
	f := newFixture(t, keys.Config{Environment: "test"}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	iss := f.reissue(t, "acct_1")
	rec := f.get("/account/key", iss.Secret)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"key_prefix":"sk_test_root"`) {
		t.Fatalf("test key GET: %d %s", rec.Code, rec.Body)
	}
	// A live-looking key on a test Manager is an invalid API key, not a
	// session token: it never reaches the SessionVerifier.
	called := false
	f2 := newFixture(t, keys.Config{Environment: "test"}, httpadapter.Options{
		Sessions: httpadapter.SessionFunc(func(context.Context, string) (string, error) {
			called = true
			return "acct_1", nil
		}),
	})
	live := "sk_live_" + strings.Repeat("A", 49)
	checkError(t, f2.get("/account/key", live), http.StatusUnauthorized, httpadapter.CodeInvalidAPIKey)
	if called {
		t.Error("an API key was handed to the SessionVerifier")
	}
}

func TestCustomErrorHandler(t *testing.T) {
	var got *httpadapter.Error
	f := newFixture(t, keys.Config{}, httpadapter.Options{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *httpadapter.Error) {
			got = e
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(e.Status)
			fmt.Fprintf(w, "%s: %s", e.Code, e.Message)
		},
	})
	rec := f.get("/account/key", "not-a-session")
	if rec.Code != http.StatusUnauthorized || rec.Body.String() != "invalid_session: "+got.Message {
		t.Errorf("custom handler: %d %q", rec.Code, rec.Body)
	}
	// The protocol headers were set before the handler ran.
	if v := rec.Header().Get("WWW-Authenticate"); v != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q", v)
	}
	if got.Err == nil || got.Code != httpadapter.CodeInvalidSession || got.Status != http.StatusUnauthorized {
		t.Errorf("Error = %+v", got)
	}
	rec = f.do(req{method: http.MethodDelete, path: "/account/key"})
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("405 through custom handler: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	if got.Error() == "" || got.Unwrap() != nil {
		t.Errorf("Error() = %q, Unwrap() = %v", got.Error(), got.Unwrap())
	}
}

func TestDataRoute(t *testing.T) {
	g := newGolden(t)
	for _, tok := range []string{g.root.Secret, g.child.Secret} {
		k, _ := g.m.Authenticate(context.Background(), tok)
		rec := g.get("/v1/quotes", tok)
		if rec.Code != http.StatusOK {
			t.Fatalf("data route: %d %s", rec.Code, rec.Body)
		}
		if want := "data for acct_1 via " + k.ID.String(); rec.Body.String() != want {
			t.Errorf("data route saw %q, want %q", rec.Body, want)
		}
		checkRateHeaders(t, rec)
	}
	// A session token is not an API key.
	rec := g.get("/v1/quotes", "session-acct_1")
	checkError(t, rec, http.StatusUnauthorized, httpadapter.CodeInvalidAPIKey)
	checkNoRateHeaders(t, rec)
}

func TestNewPanicsOnNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(nil) did not panic")
		}
	}()
	httpadapter.New(nil, httpadapter.Options{})
}

// TestConcurrentRequests mixes every endpoint from many goroutines (run
// it with -race): no 5xx, and afterwards exactly one active root key.
func TestConcurrentRequests(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{
		"big": {RequestsPerMinute: 1 << 20, RequestsPerMonth: 1 << 40}}}, httpadapter.Options{})
	f.account(t, "acct_1", "big", true)
	root := f.reissue(t, "acct_1").Secret
	child := f.child(t, "acct_1", keys.ChildOptions{}).Secret
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				var rec *httptest.ResponseRecorder
				switch (g + i) % 5 {
				case 0:
					rec = f.get("/account/key", "session-acct_1")
				case 1:
					rec = f.get("/account/key", root)
				case 2:
					rec = f.get("/v1/x", child)
				case 3:
					rec = f.post("/account/key/reissue", "session-acct_1")
				case 4:
					rec = f.post("/account/key/reissue", root)
				}
				if rec.Code >= 500 {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	ks, err := f.m.ListKeys(context.Background(), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, k := range ks {
		if k.IsRoot && k.RevokedAt == nil {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d active root keys after concurrent reissues", active)
	}
	if rec := f.get("/account/key", "session-acct_1"); rec.Code != http.StatusOK {
		t.Errorf("GET after the storm: %d %s", rec.Code, rec.Body)
	}
}

func TestDecisionFromContext(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_t", testTier, true)
	tok := f.reissue(t, "acct_t").Secret
	var got keys.Decision
	var ok bool
	h := f.h.RequireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = httpadapter.DecisionFromContext(r.Context())
	}))
	serve(h, req{path: "/v1/x", auth: bearer(tok)})
	if !ok || !got.Allowed || got.Quota.Limit != 3 || got.Quota.Remaining != 2 || got.Rate.Limit != 2 || got.Rate.Remaining != 1 {
		t.Errorf("DecisionFromContext = %+v, %v", got, ok)
	}
	if _, ok := httpadapter.DecisionFromContext(context.Background()); ok {
		t.Error("a Decision outside RequireKey")
	}
}
