package httpadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// mgmt is a fixture with a verified pro account acct_1 (root key and one
// child), a second account acct_2 with a root, an unverified account, an
// account without keys and the tiny rate-limited tier account acct_t.
type mgmt struct {
	*fixture
	root, child, other, tiny keys.Issued
}

func newMgmt(t *testing.T, opts httpadapter.Options) *mgmt {
	t.Helper()
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{
		testTier: {RequestsPerMinute: 2, RequestsPerMonth: 3},
		keys.Pro: {RequestsPerMinute: 1000, RequestsPerMonth: 500_000},
	}}, opts)
	f.account(t, "acct_1", keys.Pro, true)
	f.account(t, "acct_2", keys.Pro, true)
	f.account(t, "acct_unverified", keys.Pro, false)
	f.account(t, "acct_nokey", keys.Pro, true)
	f.account(t, "acct_t", testTier, true)
	g := &mgmt{fixture: f}
	g.root = f.reissue(t, "acct_1")
	f.clock.Add(time.Second)
	g.child = f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	g.other = f.reissue(t, "acct_2")
	g.tiny = f.reissue(t, "acct_t")
	return g
}

// send serves one request with a bearer token ("" = none) and a body.
func (g *mgmt) send(method, path, token, body string) *httptest.ResponseRecorder {
	r := req{method: method, path: path}
	if token != "" {
		r.auth = bearer(token)
	}
	if body != "" {
		r.body = strings.NewReader(body)
	}
	return g.do(r)
}

// decode decodes a JSON answer into v, failing on anything else.
func decode(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
}

// kObject is K, with every member required to be present.
type kObject map[string]json.RawMessage

var kFields = []string{"id", "key_prefix", "name", "root_key_id", "is_root_key", "is_active", "created_at",
	"last_used_at", "expires_at", "quota_requests_per_month_override", "rate_requests_per_minute_override",
	"effective_quota_requests_per_month", "effective_rate_requests_per_minute",
	"scopes", "metadata", "allowed_networks", "revoked_at"}

func checkK(t *testing.T, k kObject) {
	t.Helper()
	if len(k) != len(kFields) {
		t.Errorf("K has %d members, want %d: %v", len(k), len(kFields), k)
	}
	for _, f := range kFields {
		if _, ok := k[f]; !ok {
			t.Errorf("K lacks %q", f)
		}
	}
}

func (k kObject) str(name string) string {
	var s string
	_ = json.Unmarshal(k[name], &s)
	return s
}

func TestKeyRoutesGolden(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	exp := "2026-06-01T00:00:00Z"
	rec := g.send("POST", "/account/keys", g.root.Secret, `{"name":"deploy","expires_at":"`+exp+`",
		"quota_requests_per_month_override":1000,"rate_requests_per_minute_override":10,
		"scopes":["prices:read"],"metadata":{"project":"p1"},"allowed_networks":["10.1.0.0/16"],"unknown_field":[1]}`)
	var created map[string]any
	decode(t, rec, http.StatusCreated, &created)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	checkRateHeaders(t, rec)
	secret, _ := created["key"].(string)
	if !strings.HasPrefix(secret, "sk_live_") || created["key_prefix"] != "sk_live_child" ||
		created["root_key_id"] != g.root.Key.ID.String() || created["message"] != "Store this key securely. It will not be shown again." ||
		created["created_at"] != "2026-03-02T10:30:01Z" || len(created) != 6 {
		t.Fatalf("POST answer = %v", created)
	}
	id := created["id"].(string)
	k, err := g.m.Authenticate(context.Background(), secret)
	if err != nil || k.ID.String() != id || !k.HasScope("prices:read") || k.HasScope("prices:write") {
		t.Fatalf("the new key: %+v, %v", k, err)
	}

	// GET /account/keys/{id}, byte for byte.
	rec = g.send("GET", "/account/keys/"+id, g.root.Secret, "")
	want := `{"key":{"id":"` + id + `","key_prefix":"sk_live_child","name":"deploy","root_key_id":"` + g.root.Key.ID.String() + `",` +
		`"is_root_key":false,"is_active":true,"created_at":"2026-03-02T10:30:01Z","last_used_at":null,` +
		`"expires_at":"2026-06-01T00:00:00Z","quota_requests_per_month_override":1000,"rate_requests_per_minute_override":10,` +
		`"effective_quota_requests_per_month":1000,"effective_rate_requests_per_minute":10,` +
		`"scopes":["prices:read"],"metadata":{"project":"p1"},"allowed_networks":["10.1.0.0/16"],"revoked_at":null}}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("GET key = %d\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}
	checkRateHeaders(t, rec)

	// The list, as a session: the root, the fixture's child and the new one.
	rec = g.send("GET", "/account/keys", "session-acct_1", "")
	var list struct {
		Keys       []kObject `json:"keys"`
		NextCursor *string   `json:"next_cursor"`
	}
	decode(t, rec, 200, &list)
	checkRateHeaders(t, rec)
	if len(list.Keys) != 3 || list.NextCursor != nil {
		t.Fatalf("list = %s", rec.Body)
	}
	for i, wantID := range []string{g.root.Key.ID.String(), g.child.Key.ID.String(), id} {
		checkK(t, list.Keys[i])
		if list.Keys[i].str("id") != wantID {
			t.Fatalf("list[%d] = %s, want %s (oldest first)", i, list.Keys[i].str("id"), wantID)
		}
	}
	if string(list.Keys[0]["scopes"]) != "null" || string(list.Keys[0]["metadata"]) != "null" || string(list.Keys[0]["allowed_networks"]) != "null" {
		t.Fatalf("a root's restrictions are not null: %v", list.Keys[0])
	}

	// PATCH: rename, replace metadata, clear scopes; absent fields stay.
	rec = g.send("PATCH", "/account/keys/"+id, g.root.Secret, `{"name":"renamed","metadata":{"team":"x"},"scopes":null}`)
	var one struct{ Key kObject }
	decode(t, rec, 200, &one)
	checkK(t, one.Key)
	if one.Key.str("name") != "renamed" || string(one.Key["metadata"]) != `{"team":"x"}` || string(one.Key["scopes"]) != "null" ||
		string(one.Key["allowed_networks"]) != `["10.1.0.0/16"]` || one.Key.str("expires_at") != exp {
		t.Fatalf("after PATCH: %s", rec.Body)
	}
	// {} clears metadata (shown as null); null clears the expiry and an override.
	rec = g.send("PATCH", "/account/keys/"+id, "session-acct_1", `{"metadata":{},"expires_at":null,"rate_requests_per_minute_override":null,"allowed_networks":null}`)
	decode(t, rec, 200, &one)
	if string(one.Key["metadata"]) != "null" || string(one.Key["expires_at"]) != "null" ||
		string(one.Key["rate_requests_per_minute_override"]) != "null" || string(one.Key["effective_rate_requests_per_minute"]) != "1000" ||
		string(one.Key["allowed_networks"]) != "null" || string(one.Key["revoked_at"]) != "null" {
		t.Fatalf("after clearing PATCH: %s", rec.Body)
	}

	// DELETE revokes, idempotently.
	for range 2 {
		rec = g.send("DELETE", "/account/keys/"+id, g.root.Secret, "")
		decode(t, rec, 200, &one)
		checkRateHeaders(t, rec)
		if one.Key.str("revoked_at") != "2026-03-02T10:30:01Z" || string(one.Key["is_active"]) != "false" {
			t.Fatalf("after DELETE: %s", rec.Body)
		}
	}
	if _, err := g.m.Authenticate(context.Background(), secret); err == nil {
		t.Fatal("a deleted key still authenticates")
	}
	// Revoked keys leave the default list and come back with include_revoked.
	decode(t, g.send("GET", "/account/keys", g.root.Secret, ""), 200, &list)
	if len(list.Keys) != 2 {
		t.Fatalf("default list after DELETE has %d keys", len(list.Keys))
	}
	decode(t, g.send("GET", "/account/keys?include_revoked=true", g.root.Secret, ""), 200, &list)
	if len(list.Keys) != 3 {
		t.Fatalf("include_revoked list has %d keys", len(list.Keys))
	}
	// A revoked key cannot be patched.
	checkError(t, g.send("PATCH", "/account/keys/"+id, g.root.Secret, `{"name":"x"}`), 400, "invalid_request")
}

func TestKeyRoutesPaging(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	var ids []string
	for range 5 {
		g.clock.Add(time.Second)
		ids = append(ids, g.fixture.child(t, "acct_1", keys.ChildOptions{}).Key.ID.String())
	}
	want := append([]string{g.root.Key.ID.String(), g.child.Key.ID.String()}, ids...)
	var got []string
	cursor := ""
	for page := 0; page < 10; page++ {
		path := "/account/keys?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var list struct {
			Keys       []kObject `json:"keys"`
			NextCursor *string   `json:"next_cursor"`
		}
		decode(t, g.send("GET", path, g.root.Secret, ""), 200, &list)
		for _, k := range list.Keys {
			got = append(got, k.str("id"))
		}
		if page == 0 {
			// Between pages: revoke a listed key and one not yet listed,
			// and add one.
			for _, id := range []string{g.child.Key.ID.String(), ids[3]} {
				checkError(t, g.send("GET", "/account/keys/not-a-uuid", g.root.Secret, ""), 400, "invalid_request")
				rec := g.send("DELETE", "/account/keys/"+id, g.root.Secret, "")
				if rec.Code != 200 {
					t.Fatal(rec.Body)
				}
			}
			g.clock.Add(time.Second)
			want = append(want, g.fixture.child(t, "acct_1", keys.ChildOptions{}).Key.ID.String())
		}
		if list.NextCursor == nil {
			break
		}
		cursor = *list.NextCursor
	}
	// ids[3] was revoked before its page: not listed. The new key is.
	var expect []string
	for _, id := range want {
		if id != ids[3] {
			expect = append(expect, id)
		}
	}
	if strings.Join(got, ",") != strings.Join(expect, ",") {
		t.Fatalf("paged list\n%v\nwant\n%v", got, expect)
	}
}

func TestKeyRoutesForbidden(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	childID := g.child.Key.ID.String()
	routes := []struct{ method, path, body string }{
		{"GET", "/account/keys", ""},
		{"POST", "/account/keys", "{}"},
		{"GET", "/account/keys/" + childID, ""},
		{"PATCH", "/account/keys/" + childID, `{"name":"x"}`},
		{"DELETE", "/account/keys/" + childID, ""},
	}
	for _, rt := range routes {
		rec := g.send(rt.method, rt.path, g.child.Secret, rt.body)
		checkError(t, rec, 403, "child_key_forbidden")
		checkRateHeaders(t, rec)
	}
	// A reissue with grace: the old root is retiring.
	if _, err := g.m.Reissue(context.Background(), "acct_1", keys.WithGrace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		rec := g.send(rt.method, rt.path, g.root.Secret, rt.body)
		checkError(t, rec, 403, "root_key_retired")
		checkRateHeaders(t, rec)
	}
	if k, _ := g.m.Key(context.Background(), g.child.Key.ID); k.Name != "ci" || k.RevokedAt == nil || !k.RevokedAt.After(g.m.Now()) {
		t.Fatalf("a refused request changed the child: %+v", k)
	}
	// Unauthenticated and bad credentials: 401s without rate headers.
	for _, tc := range []struct{ token, code string }{
		{"", "missing_credentials"}, {"sk_live_nope", "invalid_api_key"}, {"session-bogus", "invalid_session"},
	} {
		rec := g.send("GET", "/account/keys", tc.token, "")
		checkError(t, rec, 401, tc.code)
		checkNoRateHeaders(t, rec)
	}
	// A revoked key.
	c2 := g.fixture.child(t, "acct_1", keys.ChildOptions{})
	if err := g.m.Revoke(context.Background(), c2.Key.ID); err != nil {
		t.Fatal(err)
	}
	checkError(t, g.send("GET", "/account/usage", c2.Secret, ""), 401, "key_revoked")
	// A session of an account that does not exist.
	checkError(t, g.send("GET", "/account/keys", "session-ghost", ""), 404, "account_not_found")
}

func TestKeyRoutesNotFoundAndConditions(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	otherID := g.other.Key.ID.String()
	missing := uuid.New().String()
	for _, id := range []string{otherID, missing} {
		for _, m := range []struct{ method, body string }{{"GET", ""}, {"PATCH", `{"name":"x"}`}, {"DELETE", ""}} {
			rec := g.send(m.method, "/account/keys/"+id, g.root.Secret, m.body)
			checkError(t, rec, 404, "key_not_found")
			checkRateHeaders(t, rec)
		}
	}
	if k, _ := g.m.Key(context.Background(), g.other.Key.ID); k.RevokedAt != nil || k.Name != "" {
		t.Fatal("another account's key was changed")
	}
	// A root key cannot be deleted.
	rec := g.send("DELETE", "/account/keys/"+g.root.Key.ID.String(), g.root.Secret, "")
	checkError(t, rec, 400, "invalid_request")
	checkRateHeaders(t, rec)
	if !strings.Contains(rec.Body.String(), "reissue") {
		t.Errorf("root DELETE message does not say to reissue: %s", rec.Body)
	}
	// A retiring root may be revoked at once, its grace ended (its
	// children with it); the new active root still may not.
	iss, err := g.m.Reissue(context.Background(), g.root.Key.AccountID, keys.WithGrace(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rec = g.send("DELETE", "/account/keys/"+g.root.Key.ID.String(), "session-acct_1", "")
	if rec.Code != 200 {
		t.Fatalf("DELETE of a retiring root: %d %s", rec.Code, rec.Body)
	}
	if _, err := g.m.Authenticate(context.Background(), g.root.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("a deleted retiring root authenticates: %v", err)
	}
	checkError(t, g.send("DELETE", "/account/keys/"+iss.Key.ID.String(), "session-acct_1", ""), 400, "invalid_request")
	// POST needs a verified email and an active root; an unverified
	// account's 403 comes before its body's 400.
	rec = g.send("POST", "/account/keys", "session-unverified", "{}")
	checkError(t, rec, 403, "email_not_verified")
	checkError(t, g.send("POST", "/account/keys", "session-unverified", `{"scopes":[]}`), 403, "email_not_verified")
	rec = g.send("POST", "/account/keys", "session-nokey", `{"name":"x"}`)
	checkError(t, rec, 409, "no_active_key")
	checkRateHeaders(t, rec)
	// GET /account/keys of an account without keys: an empty list.
	rec = g.send("GET", "/account/keys", "session-nokey", "")
	if rec.Code != 200 || rec.Body.String() != `{"keys":[],"next_cursor":null}` {
		t.Fatalf("empty list = %d %s", rec.Code, rec.Body)
	}
	// Wrong methods.
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/account/keys", "GET, HEAD, POST"},
		{"POST", "/account/keys/" + missing, "GET, HEAD, PATCH, DELETE"},
		{"DELETE", "/account/usage", "GET, HEAD"},
	} {
		rec := g.send(tc.method, tc.path, g.root.Secret, "")
		checkError(t, rec, 405, "method_not_allowed")
		if rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow = %q", tc.method, tc.path, rec.Header().Get("Allow"))
		}
	}
	// Paths under /account/keys that are not routes.
	for _, p := range []string{"/account/keys/", "/account/keys/" + missing + "/x"} {
		checkError(t, g.direct(req{path: p, auth: bearer(g.root.Secret)}), 404, "not_found")
	}
}

func TestKeyRoutesBadInput(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	id := g.child.Key.ID.String()
	_, next, err := g.m.ListKeysPage(context.Background(), "acct_1", keys.Page{Limit: 1})
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	// A cursor is not signed (it positions within the caller's own
	// account): tampering shows only when it no longer decodes.
	tampered := next[:len(next)-1]
	for _, tc := range []struct {
		method, path, body, field string
	}{
		{"GET", "/account/keys?limit=0", "", "limit"},
		{"GET", "/account/keys?limit=1000", "", "limit"},
		{"GET", "/account/keys?limit=x", "", "limit"},
		{"GET", "/account/keys?cursor=" + tampered, "", "cursor"},
		{"GET", "/account/keys?cursor=%00%01", "", "cursor"},
		{"GET", "/account/keys?cursor=!" + next[1:], "", "cursor"},
		{"GET", "/account/keys?cursor=" + strings.Repeat("A", len(next)), "", "cursor"},
		{"GET", "/account/keys?include_revoked=yes", "", "include_revoked"},
		{"GET", "/account/usage?month=2026-13", "", "month"},
		{"GET", "/account/usage?month=2026-1", "", "month"},
		{"GET", "/account/usage?month=nov", "", "month"},
		{"GET", "/account/keys/not-a-uuid", "", "UUID"},
		{"GET", "/account/keys/" + strings.ReplaceAll(id, "-", ""), "", "UUID"},
		{"DELETE", "/account/keys/%7B" + id + "%7D", "", "UUID"},
		{"POST", "/account/keys", `[]`, "JSON object"},
		{"POST", "/account/keys", `"x"`, "JSON object"},
		{"POST", "/account/keys", `{"name":1}`, "name"},
		{"POST", "/account/keys", `{"name":"a"} {}`, "JSON object"},
		{"POST", "/account/keys", `{"expires_at":"tomorrow"}`, "expires_at"},
		{"POST", "/account/keys", `{"expires_at":1767225600}`, "expires_at"},
		{"POST", "/account/keys", `{"expires_at":"2020-01-01T00:00:00Z"}`, "expires_at"},
		{"POST", "/account/keys", `{"quota_requests_per_month_override":"5"}`, "quota_requests_per_month_override"},
		{"POST", "/account/keys", `{"quota_requests_per_month_override":1.5}`, "quota_requests_per_month_override"},
		{"POST", "/account/keys", `{"quota_requests_per_month_override":0}`, "quota_requests_per_month_override"},
		{"POST", "/account/keys", `{"quota_requests_per_month_override":999999999}`, "quota_requests_per_month_override"},
		{"POST", "/account/keys", `{"rate_requests_per_minute_override":true}`, "rate_requests_per_minute_override"},
		{"POST", "/account/keys", `{"rate_requests_per_minute_override":99999999999999999999}`, "rate_requests_per_minute_override"},
		{"POST", "/account/keys", `{"rate_requests_per_minute_override":1001}`, "rate_requests_per_minute_override"},
		{"POST", "/account/keys", `{"scopes":"prices:read"}`, "scopes"},
		{"POST", "/account/keys", `{"scopes":[1]}`, "scopes"},
		{"POST", "/account/keys", `{"scopes":[]}`, "scopes"},
		{"POST", "/account/keys", `{"scopes":["Bad Scope"]}`, "scopes"},
		{"POST", "/account/keys", `{"metadata":[]}`, "metadata"},
		{"POST", "/account/keys", `{"metadata":{"k":1}}`, "metadata"},
		{"POST", "/account/keys", `{"metadata":{"bad key":"v"}}`, "metadata"},
		{"POST", "/account/keys", `{"allowed_networks":"10.0.0.0/8"}`, "allowed_networks"},
		{"POST", "/account/keys", `{"allowed_networks":["10.0.0.300/8"]}`, "allowed_networks"},
		{"POST", "/account/keys", `{"allowed_networks":[]}`, "allowed_networks"},
		{"PATCH", "/account/keys/" + id, `{"scopes":[]}`, "scopes"},
		{"PATCH", "/account/keys/" + id, `{"allowed_networks":[]}`, "allowed_networks"},
		{"PATCH", "/account/keys/" + id, `{"name":["x"]}`, "name"},
		{"PATCH", "/account/keys/" + id, `{"metadata":"x"}`, "metadata"},
		{"PATCH", "/account/keys/" + id, `null`, "JSON object"},
		{"PATCH", "/account/keys/" + g.root.Key.ID.String(), `{"scopes":["a"]}`, "scopes"},
		{"PATCH", "/account/keys/" + g.root.Key.ID.String(), `{"expires_at":null}`, "expires_at"},
		{"PATCH", "/account/keys/" + g.root.Key.ID.String(), `{"allowed_networks":null}`, "allowed_networks"},
		{"PATCH", "/account/keys/" + g.root.Key.ID.String(), `{"quota_requests_per_month_override":5}`, "quota_requests_per_month_override"},
	} {
		rec := g.send(tc.method, tc.path, g.root.Secret, tc.body)
		checkError(t, rec, 400, "invalid_request")
		checkRateHeaders(t, rec)
		var b errorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &b)
		if !strings.Contains(b.Error.Message, tc.field) {
			t.Errorf("%s %s %s: message %q does not name %s", tc.method, tc.path, tc.body, b.Error.Message, tc.field)
		}
		if strings.Contains(b.Error.Message, "keys:") || strings.Contains(b.Error.Message, "json:") {
			t.Errorf("message leaks internal text: %q", b.Error.Message)
		}
	}
	if k, _ := g.m.Key(context.Background(), g.child.Key.ID); k.Name != "ci" || k.Scopes != nil {
		t.Fatalf("a refused PATCH changed the key: %+v", k)
	}
	ks, _ := g.m.ListKeys(context.Background(), "acct_1")
	if len(ks) != 2 {
		t.Fatalf("a refused POST issued a key: %d keys", len(ks))
	}
	// Unknown fields are ignored, on PATCH as on POST.
	var same struct{ Key kObject }
	decode(t, g.send("PATCH", "/account/keys/"+id, g.root.Secret, `{"nmae":"typo","future_field":{"x":[1]}}`), 200, &same)
	if same.Key.str("name") != "ci" {
		t.Fatalf("a PATCH of unknown fields changed the key: %v", same.Key)
	}
	// The root may be renamed and given metadata.
	var one struct{ Key kObject }
	decode(t, g.send("PATCH", "/account/keys/"+g.root.Key.ID.String(), "session-acct_1", `{"name":"main","metadata":{"env":"prod"}}`), 200, &one)
	if one.Key.str("name") != "main" || string(one.Key["metadata"]) != `{"env":"prod"}` {
		t.Fatalf("root PATCH: %v", one.Key)
	}
	// An empty body, and an empty object, issue a plain child.
	for _, body := range []string{"", "{}", " \n"} {
		if rec := g.send("POST", "/account/keys", g.root.Secret, body); rec.Code != 201 {
			t.Fatalf("POST %q = %d %s", body, rec.Code, rec.Body)
		}
	}
}

func TestKeyRoutesOrderOfChecks(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{MaxBodyBytes: 64})
	big := `{"name":"` + strings.Repeat("x", 100) + `"}`
	// Body size first: before credentials.
	for _, m := range []string{"POST", "PATCH"} {
		path := "/account/keys"
		if m == "PATCH" {
			path += "/" + g.child.Key.ID.String()
		}
		rec := g.send(m, path, "", big)
		checkError(t, rec, 413, "request_too_large")
		checkNoRateHeaders(t, rec)
	}
	// Credentials before the rate: acct_t allows 2 per minute.
	for range 2 {
		if rec := g.send("GET", "/account/keys", g.tiny.Secret, ""); rec.Code != 200 {
			t.Fatal(rec.Body)
		}
	}
	rec := g.send("GET", "/account/keys", g.tiny.Secret, "")
	checkError(t, rec, 429, "rate_limited")
	checkRateHeaders(t, rec)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The rate before the body's content.
	checkError(t, g.send("POST", "/account/keys", g.tiny.Secret, `{"name":1}`), 429, "rate_limited")
	checkError(t, g.send("GET", "/account/usage?month=2026-13", g.tiny.Secret, ""), 429, "rate_limited")
	checkError(t, g.send("GET", "/account/keys?limit=0", "session-t", ""), 429, "rate_limited")
	// Content before conditions: a bad body of an account without a root
	// is 400, not 409.
	checkError(t, g.send("POST", "/account/keys", "session-nokey", `{"scopes":5}`), 400, "invalid_request")
	// The routes count the rate, never the quota: acct_t's quota is 3, and
	// its root still passes a data request after these.
	g.clock.Add(time.Hour)
	rec = g.do(req{path: "/v1/data", auth: bearer(g.tiny.Secret)})
	if rec.Code != 200 {
		t.Fatalf("data request after management requests = %d %s", rec.Code, rec.Body)
	}
}

func TestDisableKeyManagement(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{DisableKeyManagement: true})
	for _, rt := range []struct{ method, path string }{
		{"GET", "/account/keys"}, {"POST", "/account/keys"},
		{"GET", "/account/keys/" + g.child.Key.ID.String()}, {"DELETE", "/account/keys/" + g.child.Key.ID.String()},
	} {
		checkError(t, g.send(rt.method, rt.path, g.root.Secret, ""), 404, "not_found")
	}
	if rec := g.send("GET", "/account/usage", g.root.Secret, ""); rec.Code != 200 {
		t.Fatalf("usage with key management off = %d %s", rec.Code, rec.Body)
	}
	if rec := g.send("GET", "/account/key", g.root.Secret, ""); rec.Code != 200 {
		t.Fatalf("GET /account/key = %d", rec.Code)
	}
}

func TestUsageRouteNetworks(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	c := g.fixture.child(t, "acct_1", keys.ChildOptions{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	r := httptest.NewRequest("GET", "/account/usage", nil)
	r.Header.Set("Authorization", "Bearer "+c.Secret)
	r.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	g.mux.ServeHTTP(rec, r)
	checkError(t, rec, 403, "ip_not_allowed")
	checkRateHeaders(t, rec)
	r.RemoteAddr = "10.2.3.4:1234"
	rec = httptest.NewRecorder()
	g.mux.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("from an allowed network: %d %s", rec.Code, rec.Body)
	}
}

// TestKeyObjectOfRetiringKey checks K during a grace: is_active true,
// revoked_at the grace end, expires_at the earlier of the key's own expiry
// and the grace end; and after a DELETE, its own expiry again.
func TestKeyObjectOfRetiringKey(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	soon := start.Add(30 * time.Minute)
	late := start.Add(48 * time.Hour)
	c1 := g.fixture.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &soon})
	c2 := g.fixture.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &late})
	if _, err := g.m.Reissue(context.Background(), "acct_1", keys.WithGrace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	graceEnd := "2026-03-02T11:30:01Z"
	var one struct{ Key kObject }
	for _, tc := range []struct {
		id      string
		expires string
	}{{c1.Key.ID.String(), "2026-03-02T11:00:00Z"}, {c2.Key.ID.String(), graceEnd}} {
		decode(t, g.send("GET", "/account/keys/"+tc.id, "session-acct_1", ""), 200, &one)
		if string(one.Key["is_active"]) != "true" || one.Key.str("revoked_at") != graceEnd || one.Key.str("expires_at") != tc.expires {
			t.Fatalf("retiring key: %v", one.Key)
		}
	}
	// A retiring child may still be patched, and keeps its grace end.
	decode(t, g.send("PATCH", "/account/keys/"+c2.Key.ID.String(), "session-acct_1", `{"name":"old"}`), 200, &one)
	if one.Key.str("revoked_at") != graceEnd || one.Key.str("name") != "old" {
		t.Fatalf("PATCH of a retiring key: %v", one.Key)
	}
	// DELETE ends the grace at once.
	decode(t, g.send("DELETE", "/account/keys/"+c2.Key.ID.String(), "session-acct_1", ""), 200, &one)
	if string(one.Key["is_active"]) != "false" || one.Key.str("revoked_at") != "2026-03-02T10:30:01Z" || one.Key.str("expires_at") != "2026-03-04T10:30:00Z" {
		t.Fatalf("after DELETE of a retiring key: %v", one.Key)
	}
	if _, err := g.m.Authenticate(context.Background(), c2.Secret); err == nil {
		t.Fatal("a deleted retiring key still authenticates")
	}
}

func TestKeyRoutesDefaultPageSize(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	for range 55 { // with the root and the fixture's child: 57 keys
		g.fixture.child(t, "acct_1", keys.ChildOptions{})
	}
	var list struct {
		Keys       []kObject `json:"keys"`
		NextCursor *string   `json:"next_cursor"`
	}
	decode(t, g.send("GET", "/account/keys?include_revoked=false", "session-acct_1", ""), 200, &list)
	if len(list.Keys) != 50 || list.NextCursor == nil {
		t.Fatalf("first page: %d keys, next %v", len(list.Keys), list.NextCursor)
	}
	decode(t, g.send("GET", "/account/keys?cursor="+*list.NextCursor, "session-acct_1", ""), 200, &list)
	if len(list.Keys) != 7 || list.NextCursor != nil {
		t.Fatalf("second page: %d keys, next %v", len(list.Keys), list.NextCursor)
	}
	decode(t, g.send("GET", "/account/keys?limit=100", "session-acct_1", ""), 200, &list)
	if len(list.Keys) != 57 || list.NextCursor != nil {
		t.Fatalf("limit=100: %d keys", len(list.Keys))
	}
}

// Changes through the key routes are recorded with their caller: the root
// key that made them, or the session's account.
func TestKeyRoutesRecordTheActor(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	rec := g.send("POST", "/account/keys", g.root.Secret, `{"name":"by-key"}`)
	if rec.Code != 201 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	id := g.child.Key.ID.String()
	if rec := g.send("PATCH", "/account/keys/"+id, "session-acct_1", `{"name":"renamed"}`); rec.Code != 200 {
		t.Fatalf("PATCH: %d %s", rec.Code, rec.Body)
	}
	if rec := g.send("DELETE", "/account/keys/"+id, "session-acct_1", ""); rec.Code != 200 {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	events, _, err := g.m.AuditEvents(context.Background(), "acct_1", keys.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]keys.EventActor{
		"key.issued":  {Type: "api_key", ID: g.root.Key.ID.String()},
		"key.updated": {Type: "session", ID: "acct_1"},
		"key.revoked": {Type: "session", ID: "acct_1"},
	}
	for _, e := range events[:3] { // newest first: the three above
		if w, ok := want[e.Type]; !ok || e.Actor != w {
			t.Errorf("%s by %+v, want %+v", e.Type, e.Actor, want[e.Type])
		}
		if e.IP == "" {
			t.Errorf("%s has no client IP", e.Type)
		}
	}
}
