package httpadapter_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
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
	"github.com/keyward/keys/store"
)

// fakeGitHub serves its own ECDSA P-256 public keys in the shape of
// https://api.github.com/meta/public_keys/secret_scanning and signs
// reports the way GitHub does.
type fakeGitHub struct {
	srv     *httptest.Server
	fetches atomic.Int64
	down    atomic.Bool

	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
	cur  string
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{keys: map[string]*ecdsa.PrivateKey{}}
	g.rotate(t)
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// rotate adds a new current key and returns its identifier; older keys
// stay listed, as GitHub does.
func (g *fakeGitHub) rotate(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	id := hex.EncodeToString(sum[:])
	g.mu.Lock()
	g.keys[id], g.cur = k, id
	g.mu.Unlock()
	return id
}

func (g *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.fetches.Add(1)
	if g.down.Load() {
		http.Error(w, "unicorn", http.StatusServiceUnavailable)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	type entry struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []entry `json:"public_keys"`
	}
	for id, k := range g.keys {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		doc.PublicKeys = append(doc.PublicKeys, entry{KeyIdentifier: id, Key: string(p), IsCurrent: id == g.cur})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// sign returns GitHub's two headers for body, signed with the current key.
func (g *fakeGitHub) sign(t testing.TB, body []byte) (id, sig string) {
	t.Helper()
	g.mu.Lock()
	id, k := g.cur, g.keys[g.cur]
	g.mu.Unlock()
	return id, signWith(t, k, body)
}

func signWith(t testing.TB, k *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	der, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

type match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

type answer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

func reportBody(tokens ...string) []byte {
	ms := make([]match, len(tokens))
	for i, tok := range tokens {
		ms[i] = match{Token: tok, Type: "keys_api_key", URL: "https://github.com/octo/repo/blob/abc/config.yml", Source: "content"}
	}
	b, _ := json.Marshal(ms)
	return b
}

func postReport(h http.Handler, body []byte, id, sig string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/github/secret-scanning", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if id != "" {
		r.Header.Set("GITHUB-PUBLIC-KEY-IDENTIFIER", id)
	}
	if sig != "" {
		r.Header.Set("GITHUB-PUBLIC-KEY-SIGNATURE", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// leakRecorder collects OnLeak calls.
type leakRecorder struct {
	mu    sync.Mutex
	calls []httpadapter.LeakedKey
}

func (l *leakRecorder) onLeak(_ context.Context, k httpadapter.LeakedKey) {
	l.mu.Lock()
	l.calls = append(l.calls, k)
	l.mu.Unlock()
}

func (l *leakRecorder) take() []httpadapter.LeakedKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.calls
	l.calls = nil
	return out
}

type scanFixture struct {
	*fixture
	gh    *fakeGitHub
	ss    *httpadapter.SecretScanning
	leaks *leakRecorder
}

func newScanFixture(t testing.TB, action httpadapter.LeakAction) *scanFixture {
	t.Helper()
	f := &scanFixture{fixture: newFixture(t, keys.Config{}, httpadapter.Options{}), gh: newFakeGitHub(t), leaks: &leakRecorder{}}
	ss, err := httpadapter.NewSecretScanning(f.m, httpadapter.SecretScanningOptions{
		PublicKeysURL: f.gh.srv.URL, Action: action, OnLeak: f.leaks.onLeak, Now: f.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("NewSecretScanning: %v", err)
	}
	f.ss = ss
	return f
}

// report posts a report of tokens signed by the fake GitHub and decodes
// the answer.
func (f *scanFixture) report(t testing.TB, tokens ...string) []answer {
	t.Helper()
	body := reportBody(tokens...)
	id, sig := f.gh.sign(t, body)
	rec := postReport(f.ss, body, id, sig)
	if rec.Code != http.StatusOK {
		t.Fatalf("report: status %d, body %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var got []answer
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if len(got) != len(tokens) {
		t.Fatalf("%d answers for %d tokens", len(got), len(tokens))
	}
	for i, a := range got {
		sum := sha256.Sum256([]byte(tokens[i]))
		if a.TokenHash != hex.EncodeToString(sum[:]) || a.TokenType != "keys_api_key" {
			t.Fatalf("answer %d = %+v, want the token's SHA-256 hex and its type", i, a)
		}
	}
	return got
}

func labels(as []answer) string {
	var b strings.Builder
	for _, a := range as {
		if a.Label == "true_positive" {
			b.WriteByte('T')
		} else if a.Label == "false_positive" {
			b.WriteByte('F')
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (f *scanFixture) wantAuth(t testing.TB, token string, want error) {
	t.Helper()
	if _, err := f.m.Authenticate(context.Background(), token); !errors.Is(err, want) {
		t.Fatalf("Authenticate = %v, want %v", err, want)
	}
}

// checkSignatureRefused checks a 401 invalid_signature in the package's
// error shape.
func checkSignatureRefused(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 (body %s)", rec.Code, rec.Body)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code != httpadapter.CodeInvalidSignature {
		t.Fatalf("body %s: want code invalid_signature", rec.Body)
	}
}

func TestSecretScanningRevokesLiveKeys(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	leaked := f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	gone := f.child(t, "acct_1", keys.ChildOptions{})
	if err := f.m.Revoke(context.Background(), gone.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.wantAuth(t, leaked.Secret, nil) // cached: the revocation must reach the cache
	unknown := otherToken(t)
	badSum := []byte(leaked.Secret)
	badSum[len(badSum)-1] ^= 1

	got := f.report(t, leaked.Secret, gone.Secret, unknown, string(badSum), "sk_live_junk", "hello")
	if l := labels(got); l != "TTFFFF" {
		t.Fatalf("labels %s, want TTFFFF (real, revoked before, unknown, bad checksum, junk, junk)", l)
	}
	f.wantAuth(t, leaked.Secret, keys.ErrRevokedKey)
	f.wantAuth(t, root.Secret, nil)
	calls := f.leaks.take()
	if len(calls) != 1 {
		t.Fatalf("OnLeak called %d times, want once (the key revoked before is not news)", len(calls))
	}
	c := calls[0]
	sum := sha256.Sum256([]byte(leaked.Secret))
	if c.Key.ID != leaked.Key.ID || c.Key.AccountID != "acct_1" || !c.Revoked || c.Key.RevokedAt == nil ||
		c.URL != "https://github.com/octo/repo/blob/abc/config.yml" || c.Source != "content" ||
		c.Type != "keys_api_key" || c.TokenHash != hex.EncodeToString(sum[:]) || len(c.AlsoRevoked) != 0 {
		t.Fatalf("OnLeak got %+v", c)
	}
	revokedAt := *c.Key.RevokedAt
	if strings.Contains(f.logs.String(), leaked.Secret) || !strings.Contains(f.logs.String(), leaked.Key.ID.String()) {
		t.Fatal("the log must name the leaked key and never hold its token")
	}

	// The same report again: same labels, nothing revoked again, no call.
	f.clock.Add(time.Minute)
	if l := labels(f.report(t, leaked.Secret, gone.Secret, unknown, string(badSum), "sk_live_junk", "hello")); l != "TTFFFF" {
		t.Fatalf("repeated report: labels %s", l)
	}
	if calls := f.leaks.take(); len(calls) != 0 {
		t.Fatalf("a repeated report called OnLeak %d times", len(calls))
	}
	k, err := f.m.Key(context.Background(), leaked.Key.ID)
	if err != nil || !k.RevokedAt.Equal(revokedAt) {
		t.Fatalf("after a repeated report the key was revoked at %v, want the first time %v", k.RevokedAt, revokedAt)
	}
}

func TestSecretScanningJunkNeverReachesTheStore(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.st.setFail("ResolveHash", true) // any lookup would be a 500
	tok := otherToken(t)
	bad := tok[:20] + "!" + tok[21:]
	if l := labels(f.report(t, "", "sk_live_", bad, strings.Repeat("A", 5000))); l != "FFFF" {
		t.Fatalf("labels %s", l)
	}
	// And an empty report is an empty answer.
	if got := f.report(t); len(got) != 0 {
		t.Fatalf("empty report: %v", got)
	}
}

func TestSecretScanningLeakedRootRevokesAccount(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.account(t, "acct_1", keys.Pro, true)
	f.account(t, "acct_2", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	c1 := f.child(t, "acct_1", keys.ChildOptions{})
	c2 := f.child(t, "acct_1", keys.ChildOptions{})
	other := f.reissue(t, "acct_2")
	for _, s := range []string{root.Secret, c1.Secret, c2.Secret} {
		f.wantAuth(t, s, nil)
	}
	if l := labels(f.report(t, root.Secret)); l != "T" {
		t.Fatalf("labels %s", l)
	}
	for _, s := range []string{root.Secret, c1.Secret, c2.Secret} {
		f.wantAuth(t, s, keys.ErrRevokedKey)
	}
	f.wantAuth(t, other.Secret, nil)
	if _, err := f.m.RootKey(context.Background(), "acct_1"); !errors.Is(err, keys.ErrNoActiveRootKey) {
		t.Fatalf("RootKey after a leaked root = %v: nothing may be minted", err)
	}
	calls := f.leaks.take()
	if len(calls) != 1 || calls[0].Key.ID != root.Key.ID || !calls[0].Key.IsRoot || !calls[0].Revoked {
		t.Fatalf("OnLeak calls %+v, want one for the root", calls)
	}
	also := map[uuid.UUID]bool{}
	for _, k := range calls[0].AlsoRevoked {
		also[k.ID] = true
	}
	if len(also) != 2 || !also[c1.Key.ID] || !also[c2.Key.ID] {
		t.Fatalf("AlsoRevoked = %v, want the two children", calls[0].AlsoRevoked)
	}
}

func TestSecretScanningReportOnly(t *testing.T) {
	f := newScanFixture(t, httpadapter.Report)
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	for range 2 {
		if l := labels(f.report(t, root.Secret, otherToken(t))); l != "TF" {
			t.Fatalf("labels %s", l)
		}
		calls := f.leaks.take()
		if len(calls) != 1 || calls[0].Revoked || calls[0].Key.ID != root.Key.ID {
			t.Fatalf("OnLeak calls %+v, want one, not revoked", calls)
		}
		f.wantAuth(t, root.Secret, nil)
	}
}

func TestSecretScanningRefusesBadSignatures(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	leaked := f.child(t, "acct_1", keys.ChildOptions{})
	body := reportBody(leaked.Secret)
	id, sig := f.gh.sign(t, body)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tampered := reportBody(leaked.Secret + " ")

	cases := []struct {
		name          string
		body          []byte
		id, signature string
	}{
		{"no headers", body, "", ""},
		{"no signature", body, id, ""},
		{"no identifier", body, "", sig},
		{"signed by another key", body, id, signWith(t, stranger, body)},
		{"signature of another body", tampered, id, sig},
		{"signature not base64", body, id, "%%%not base64%%%"},
		{"signature not DER", body, id, base64.StdEncoding.EncodeToString([]byte("garbage"))},
		{"unknown identifier", body, "deadbeef", sig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkSignatureRefused(t, postReport(f.ss, tc.body, tc.id, tc.signature))
		})
	}
	f.wantAuth(t, leaked.Secret, nil)
	if calls := f.leaks.take(); len(calls) != 0 {
		t.Fatalf("a refused report called OnLeak: %+v", calls)
	}
}

func TestSecretScanningKeyRotationAndRefetchBudget(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.report(t, otherToken(t)) // first use fetches the list
	if n := f.gh.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after the first report, want 1", n)
	}
	f.report(t, otherToken(t)) // cached
	if n := f.gh.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after the second report, want 1 (cached)", n)
	}
	// GitHub rotates: a report signed with the new key makes the handler
	// fetch the list again, once.
	f.gh.rotate(t)
	f.report(t, otherToken(t))
	if n := f.gh.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after a rotation, want 2", n)
	}
	// Made-up identifiers cost at most one fetch per interval: the
	// rotation's refetch just now was this interval's.
	body := reportBody(otherToken(t))
	_, sig := f.gh.sign(t, body)
	for i := range 5 {
		checkSignatureRefused(t, postReport(f.ss, body, "made-up-"+string(rune('a'+i)), sig))
	}
	if n := f.gh.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after five unknown identifiers, want still 2 (one refetch per interval)", n)
	}
	// A second rotation within the interval waits for the interval.
	f.gh.rotate(t)
	body = reportBody(otherToken(t))
	id, sig := f.gh.sign(t, body)
	checkSignatureRefused(t, postReport(f.ss, body, id, sig))
	f.clock.Add(httpadapter.DefaultKeysRefetchInterval)
	if rec := postReport(f.ss, body, id, sig); rec.Code != http.StatusOK {
		t.Fatalf("after the interval: status %d", rec.Code)
	}
	if n := f.gh.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after the interval, want 3", n)
	}
	// An old key still listed still verifies.
	f.gh.mu.Lock()
	old := ""
	for k := range f.gh.keys {
		if k != f.gh.cur {
			old = k
			break
		}
	}
	oldKey := f.gh.keys[old]
	f.gh.mu.Unlock()
	if rec := postReport(f.ss, body, old, signWith(t, oldKey, body)); rec.Code != http.StatusOK {
		t.Fatalf("a report signed with a listed older key: status %d", rec.Code)
	}
}

func TestSecretScanningKeysUnavailable(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.gh.down.Store(true)
	body := reportBody(otherToken(t))
	id, sig := f.gh.sign(t, body)
	rec := postReport(f.ss, body, id, sig)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "unicorn") {
		t.Fatalf("keys unavailable: status %d body %s, want 503 saying nothing internal", rec.Code, rec.Body)
	}
	// Once GitHub is back (and the refetch interval has passed) it works,
	// and the list is kept through a later outage.
	f.gh.down.Store(false)
	f.clock.Add(httpadapter.DefaultKeysRefetchInterval)
	f.report(t, otherToken(t))
	f.gh.down.Store(true)
	f.clock.Add(httpadapter.DefaultKeysTTL)
	f.report(t, otherToken(t))
}

func TestSecretScanningBadBodies(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	signed := func(body []byte) *httptest.ResponseRecorder {
		id, sig := f.gh.sign(t, body)
		return postReport(f.ss, body, id, sig)
	}
	tooMany := make([]string, httpadapter.SecretScanningMaxTokens+1)
	for i := range tooMany {
		tooMany[i] = "x"
	}
	for name, body := range map[string][]byte{
		"not JSON":        []byte("not json"),
		"an object":       []byte(`{"token":"x"}`),
		"null":            []byte(`null`),
		"token not text":  []byte(`[{"token":1}]`),
		"truncated":       []byte(`[{"token":"x"`),
		"too many tokens": reportBody(tooMany...),
	} {
		rec := signed(body)
		var b errorBody
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error.Code != "invalid_request" {
			t.Errorf("%s: status %d body %s, want 400 invalid_request", name, rec.Code, rec.Body)
		}
	}
	big := bytes.Repeat([]byte(" "), httpadapter.SecretScanningMaxBody+1)
	if rec := signed(big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: status %d, want 413", rec.Code)
	}
	rec := httptest.NewRecorder()
	f.ss.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 POST", rec.Code, rec.Header().Get("Allow"))
	}
	// Exactly the maximum is fine.
	if rec := signed(reportBody(tooMany[1:]...)); rec.Code != http.StatusOK {
		t.Errorf("a report of exactly %d tokens: status %d", httpadapter.SecretScanningMaxTokens, rec.Code)
	}
}

func TestSecretScanningStoreFailure(t *testing.T) {
	f := newScanFixture(t, httpadapter.Revoke)
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	f.st.setFail("RevokeLeaked", true)
	body := reportBody(root.Secret)
	id, sig := f.gh.sign(t, body)
	rec := postReport(f.ss, body, id, sig)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "relation") {
		t.Fatalf("store failure: status %d body %s", rec.Code, rec.Body)
	}
	if calls := f.leaks.take(); len(calls) != 0 {
		t.Fatalf("OnLeak called although nothing was revoked: %+v", calls)
	}
}

func TestNewSecretScanningChecksOptions(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	for _, u := range []string{"http://api.github.com/meta", "ftp://127.0.0.1/x", "http://10.0.0.1/keys", "::", "https://"} {
		if _, err := httpadapter.NewSecretScanning(f.m, httpadapter.SecretScanningOptions{PublicKeysURL: u}); err == nil {
			t.Errorf("PublicKeysURL %q accepted", u)
		}
	}
	for _, u := range []string{"", "https://keys.example/list", "http://127.0.0.1:8080/keys", "http://localhost/keys", "http://[::1]/keys"} {
		if _, err := httpadapter.NewSecretScanning(f.m, httpadapter.SecretScanningOptions{PublicKeysURL: u}); err != nil {
			t.Errorf("PublicKeysURL %q refused: %v", u, err)
		}
	}
	if _, err := httpadapter.NewSecretScanning(nil, httpadapter.SecretScanningOptions{}); err == nil {
		t.Error("a nil Manager accepted")
	}
	if _, err := httpadapter.NewSecretScanning(f.m, httpadapter.SecretScanningOptions{Action: 7}); err == nil {
		t.Error("an unknown Action accepted")
	}
}

// otherToken returns a well-formed live token that no test store holds.
func otherToken(t testing.TB) string {
	t.Helper()
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "x", keys.Pro, true)
	return f.reissue(t, "x").Secret
}

// RevokeLeaked fails on demand like the other failStore methods.
func (s *failStore) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	if s.failing("RevokeLeaked") {
		return nil, errStoreDown
	}
	return s.Store.RevokeLeaked(ctx, ids, now)
}
