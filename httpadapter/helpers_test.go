package httpadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// start is the fake clock's first reading: the time of the README's
// GET /account/key example.
var start = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// fakeClock is a keys.Config.Clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// errStoreDown is what failStore returns: text a client must never see.
var errStoreDown = errors.New(`pq: relation "keys" does not exist: SELECT hash, secret FROM keys WHERE id = $1`)

// failStore is a store.Store that fails chosen methods on demand.
type failStore struct {
	store.Store
	mu           sync.Mutex
	fail         map[string]bool
	accountReads atomic.Int64
}

func (s *failStore) setFail(method string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = map[string]bool{}
	}
	s.fail[method] = on
}

func (s *failStore) failing(method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail[method]
}

func (s *failStore) Account(ctx context.Context, id string) (store.Account, error) {
	s.accountReads.Add(1)
	if s.failing("Account") {
		return store.Account{}, errStoreDown
	}
	return s.Store.Account(ctx, id)
}

func (s *failStore) ActiveRootKey(ctx context.Context, id string) (store.Key, error) {
	if s.failing("ActiveRootKey") {
		return store.Key{}, errStoreDown
	}
	return s.Store.ActiveRootKey(ctx, id)
}

func (s *failStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	if s.failing("ResolveHash") {
		return store.Resolved{}, errStoreDown
	}
	return s.Store.ResolveHash(ctx, h)
}

func (s *failStore) ReplaceRootKey(ctx context.Context, root store.Key, expect uuid.UUID, now time.Time) error {
	if s.failing("ReplaceRootKey") {
		return errStoreDown
	}
	return s.Store.ReplaceRootKey(ctx, root, expect, now)
}

// RotateRootKey fails with "ReplaceRootKey" too: both replace the root.
func (s *failStore) RotateRootKey(ctx context.Context, root store.Key, r store.Rotation) (store.Key, error) {
	if s.failing("ReplaceRootKey") || s.failing("RotateRootKey") {
		return store.Key{}, errStoreDown
	}
	return s.Store.RotateRootKey(ctx, root, r)
}

func (s *failStore) Usage(ctx context.Context, acct string, id uuid.UUID, m store.Month) (store.UsageTotal, error) {
	if s.failing("Usage") {
		return store.UsageTotal{}, errStoreDown
	}
	return s.Store.Usage(ctx, acct, id, m)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Session tokens the fixtures' SessionFunc accepts, and their accounts.
var sessions = map[string]string{
	"session-acct_1":     "acct_1",
	"session-unverified": "acct_unverified",
	"session-nokey":      "acct_nokey",
	"session-ghost":      "acct_ghost", // no such account
	"session-t":          "acct_t",
}

var sessionFunc = httpadapter.SessionFunc(func(_ context.Context, token string) (string, error) {
	if acct, ok := sessions[token]; ok {
		return acct, nil
	}
	return "", errors.New("no such session")
})

// fixture is a Manager over a memstore (wrapped to fail on demand) with a
// fake clock, a Handler over it mounted on a mux, and a data route.
type fixture struct {
	m     *keys.Manager
	st    *failStore
	clock *fakeClock
	h     *httpadapter.Handler
	mux   *http.ServeMux
	logs  *syncBuffer
}

// testTier is the small custom tier of the rate-limit tests.
const testTier keys.Tier = "t"

func newFixture(t testing.TB, cfg keys.Config, opts httpadapter.Options) *fixture {
	t.Helper()
	f := &fixture{st: &failStore{Store: memstore.New()}, clock: &fakeClock{now: start}, logs: &syncBuffer{}}
	if cfg.Clock == nil {
		cfg.Clock = f.clock.Now
	}
	if cfg.FlushInterval == 0 {
		// No background flush during a test: tests flush by hand, so
		// last-used times are deterministic.
		cfg.FlushInterval = time.Hour
	}
	if cfg.Tiers == nil {
		cfg.Tiers = map[keys.Tier]keys.Limits{testTier: {RequestsPerMinute: 2, RequestsPerMonth: 3}}
	}
	m, err := keys.New(f.st, cfg)
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	f.m = m
	if opts.Sessions == nil {
		opts.Sessions = sessionFunc
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.h = httpadapter.New(m, opts)
	f.mux = http.NewServeMux()
	f.mux.Handle("/account/", f.h)
	f.mux.Handle("/v1/", f.h.RequireKey(http.HandlerFunc(dataHandler)))
	return f
}

// dataHandler is the host's data route: it echoes the key from the
// context.
func dataHandler(w http.ResponseWriter, r *http.Request) {
	k, ok := keys.FromContext(r.Context())
	if !ok {
		http.Error(w, "no key in context", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "data for %s via %s", k.AccountID, k.ID)
}

func (f *fixture) account(t testing.TB, id string, tier keys.Tier, verified bool) {
	t.Helper()
	if err := f.m.CreateAccount(context.Background(), keys.Account{ID: id, Tier: tier, EmailVerified: verified}); err != nil {
		t.Fatalf("CreateAccount(%q): %v", id, err)
	}
}

func (f *fixture) reissue(t testing.TB, acct string) keys.Issued {
	t.Helper()
	iss, err := f.m.Reissue(context.Background(), acct)
	if err != nil {
		t.Fatalf("Reissue(%q): %v", acct, err)
	}
	return iss
}

func (f *fixture) child(t testing.TB, acct string, opts keys.ChildOptions) keys.Issued {
	t.Helper()
	iss, err := f.m.IssueChild(context.Background(), acct, opts)
	if err != nil {
		t.Fatalf("IssueChild(%q): %v", acct, err)
	}
	return iss
}

// req describes one request.
type req struct {
	method string
	path   string
	auth   []string // Authorization header values; nil = none
	body   io.Reader
}

// bearer returns the Authorization values for a bearer token.
func bearer(token string) []string { return []string{"Bearer " + token} }

// do serves r through the fixture's mux.
func (f *fixture) do(r req) *httptest.ResponseRecorder {
	return serve(f.mux, r)
}

// direct serves r through the Handler itself, bypassing the mux's path
// cleaning.
func (f *fixture) direct(r req) *httptest.ResponseRecorder {
	return serve(f.h, r)
}

func serve(h http.Handler, r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr := httptest.NewRequest(r.method, r.path, r.body)
	for _, v := range r.auth {
		hr.Header.Add("Authorization", v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

func (f *fixture) get(path, token string) *httptest.ResponseRecorder {
	return f.do(req{method: http.MethodGet, path: path, auth: bearer(token)})
}

func (f *fixture) post(path, token string) *httptest.ResponseRecorder {
	return f.do(req{method: http.MethodPost, path: path, auth: bearer(token)})
}

// errorBody is the exact shape of an error answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// checkError checks that rec is a JSON error with the given status and
// code, in exactly the contract's shape, with WWW-Authenticate on a 401.
func checkError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var b errorBody
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if b.Error.Code != code {
		t.Errorf("code = %q, want %q", b.Error.Code, code)
	}
	if b.Error.Message == "" {
		t.Errorf("empty message")
	}
	want := `{"error":{"code":` + quote(code) + `,"message":` + quote(b.Error.Message) + `}}`
	if rec.Body.String() != want {
		t.Errorf("body = %s, want exactly %s", rec.Body, want)
	}
	if status == http.StatusUnauthorized {
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", got)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rateHeaders returns the three X-RateLimit-* values.
func rateHeaders(rec *httptest.ResponseRecorder) [3]string {
	h := rec.Header()
	return [3]string{h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset")}
}

func checkRateHeaders(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	for i, v := range rateHeaders(rec) {
		if v == "" {
			t.Errorf("rate-limit header %d missing (status %d)", i, rec.Code)
		}
	}
}

func checkNoRateHeaders(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if v := rateHeaders(rec); v != [3]string{} {
		t.Errorf("unauthenticated answer has rate-limit headers %v", v)
	}
}
