package httpadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

func postReissue(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/account/key/reissue", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return body.Error.Code
}

// A root key revoked through another Manager (another process), while this
// Manager still has it cached, cannot reissue itself a successor.
func TestReissueByRootRevokedElsewhere(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	serving, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer serving.Close()
	operator, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer operator.Close()
	if err := operator.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := operator.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serving.Authenticate(ctx, iss.Secret); err != nil { // cached in the server
		t.Fatal(err)
	}
	if err := operator.Revoke(ctx, iss.Key.ID); err != nil { // a leaked key, revoked from the CLI
		t.Fatal(err)
	}
	h := httpadapter.New(serving, httpadapter.Options{})
	w := postReissue(h, iss.Secret)
	if w.Code != http.StatusUnauthorized || errCode(t, w) != "key_revoked" {
		t.Fatalf("reissue by a root revoked elsewhere: %d %s", w.Code, w.Body)
	}
	if _, err := operator.RootKey(ctx, "acct_1"); err == nil {
		t.Fatal("the revoked root minted a new active root")
	}
}

// Of concurrent reissues by one root key, exactly one succeeds; the others
// are told the key is revoked rather than handed a key that is already
// dead.
func TestConcurrentReissueBySameRoot(t *testing.T) {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	h := httpadapter.New(m, httpadapter.Options{})
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i] = postReissue(h, iss.Secret).Code })
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Fatalf("status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent reissues by one root succeeded, want 1 (codes %v)", ok, n, codes)
	}
}
