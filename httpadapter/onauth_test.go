package httpadapter_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// TestOnAuthenticated: the hook hears of every API key that authenticated
// (on the data route, GET /account/key, the key management, usage and
// audit routes, and the reissue), with the key, and of nothing else.
func TestOnAuthenticated(t *testing.T) {
	var got []uuid.UUID
	f := newFixture(t, keys.Config{}, httpadapter.Options{OnAuthenticated: func(r *http.Request, k keys.Key) {
		got = append(got, k.ID)
	}})
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})

	for _, c := range []struct {
		r    req
		want int
	}{
		{req{path: "/v1/data", auth: bearer(child.Secret)}, http.StatusOK},
		{req{path: "/account/key", auth: bearer(child.Secret)}, http.StatusOK},
		{req{path: "/account/keys", auth: bearer(root.Secret)}, http.StatusOK},
		{req{path: "/account/usage", auth: bearer(root.Secret)}, http.StatusOK},
		{req{path: "/account/audit", auth: bearer(root.Secret)}, http.StatusOK},
		{req{method: http.MethodPost, path: "/account/key/reissue", auth: bearer(root.Secret)}, http.StatusOK},
		{req{path: "/v1/data", auth: bearer("sk_live_nonsense")}, http.StatusUnauthorized},
		{req{path: "/account/key", auth: bearer("session-acct_1")}, http.StatusOK},
	} {
		if rec := f.do(c.r); rec.Code != c.want {
			t.Fatalf("%s %s: %d, want %d: %s", c.r.method, c.r.path, rec.Code, c.want, rec.Body)
		}
	}
	want := []uuid.UUID{child.Key.ID, child.Key.ID, root.Key.ID, root.Key.ID, root.Key.ID, root.Key.ID}
	if len(got) != len(want) {
		t.Fatalf("hook saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("hook call %d: %v, want %v", i, got[i], want[i])
		}
	}
}
