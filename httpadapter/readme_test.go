package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/internal/tokentest"
	"github.com/keyward/keys/memstore"
)

// readmeRow is one row of README's error table.
type readmeRow struct {
	situation string
	status    int
	headers   map[string]string // name → exact value, "" = present
	codes     []string
}

var backquoted = regexp.MustCompile("`([^`]+)`")

// readErrorTable parses the table under "### Errors" in ../README.md.
func readErrorTable(t *testing.T) []readmeRow {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Errors\n")
	if !ok {
		t.Fatal("README.md has no ### Errors section")
	}
	_, table, ok := strings.Cut(section, "| situation | status | code |\n| --- | --- | --- |\n")
	if !ok {
		t.Fatal("no error table under ### Errors")
	}
	var rows []readmeRow
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 3 {
			t.Fatalf("README error table: row %q has %d cells", line, len(cells))
		}
		r := readmeRow{situation: strings.TrimSpace(cells[0]), headers: map[string]string{}}
		status, extra, _ := strings.Cut(strings.TrimSpace(cells[1]), " + ")
		if r.status, err = strconv.Atoi(status); err != nil {
			t.Fatalf("README error table: row %q: status %q", line, status)
		}
		for _, m := range backquoted.FindAllStringSubmatch(extra, -1) {
			name, value, _ := strings.Cut(m[1], ": ")
			r.headers[name] = value
		}
		for _, m := range backquoted.FindAllStringSubmatch(cells[2], -1) {
			r.codes = append(r.codes, m[1])
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("README error table is empty")
	}
	return rows
}

// readmeScenarios drives the adapter into each situation README names:
// the rows of TestErrorTable by name, and a few of its own. Every README
// row needs an entry, and every entry a README row.
var readmeScenarios = map[string][]string{
	"no or empty Authorization, not Bearer": {
		"no Authorization", "no Authorization on reissue", "no Authorization on data route",
		"empty Authorization", "Basic scheme", "token without scheme"},
	"`Bearer` without a token, two Authorization headers": {
		"empty bearer", "Bearer without token", "+two Authorization headers"},
	"malformed / unknown key; a session token on a `RequireKey` route": {
		"malformed key", "truncated key", "unknown key", "unknown key on data route",
		"unknown key on reissue", "session token on data route"},
	"revoked key / expired key": {
		"revoked key", "revoked key on data route", "revoked key on reissue", "expired key", "expired key on data route"},
	"bad or expired session, or no `Sessions` configured": {
		"bad session", "bad session on reissue", "+no Sessions configured"},
	"child key on reissue":                             {"child key on reissue"},
	"email not verified on reissue":                    {"unverified email on reissue"},
	"session account without an active root key (GET)": {"session without key", "session of an account whose root was revoked"},
	"valid session whose account does not exist": {
		"session of an unknown account", "session of an unknown account on reissue"},
	"any other path under the mount":        {"path not found"},
	"wrong method":                          {"DELETE /account/key", "POST /account/key", "GET /account/key/reissue"},
	"request body over `MaxBodyBytes`":      {"body too large"},
	"per-minute rate exceeded":              {"rate exceeded on GET", "rate exceeded on data route", "rate exceeded on reissue"},
	"monthly quota exhausted (data routes)": {"quota exhausted"},
	"store failure":                         {"store failure"},
	"Manager closed (shutting down)":        {"+Manager closed"},
	"a flood of session requests past twice the account's pool rate (30/min before the pool is known), refused before any store read": {
		"+session flood"},
	"the Manager's lookup budget for uncached, untagged tokens is spent (keys.ErrBusy: the key may exist, so never 401)": {
		"+lookup budget spent"},
	"two credentials on a `RequireKey` route (Authorization and X-API-Key); a reissue body that is not an object of its fields": {
		"+two credentials", "+reissue body not an object"},
	"root key in the grace of a reissue, on reissue":                             {"+retiring root on reissue"},
	"key without a scope the route needs (`WithScopes`)":                         {"+missing scope"},
	"client address outside the key's allowed networks":                          {"+address outside the networks"},
	"`if_root_key_id` does not match the account's root":                         {"+condition fails"},
	"key of another account, or none, on `/account/keys/{id}`":                   {"+unknown key id", "+another account's key id"},
	"child key on `/account/keys*`; retiring root key there":                     {"+child key lists keys", "+retiring root lists keys"},
	"new child key for an account without an active root (`POST /account/keys`)": {"+new child without a root"},
}

// extraScenarios are the situations ("+name" above) TestErrorTable does
// not cover.
var extraScenarios = map[string]func(w *errorWorld) *httptest.ResponseRecorder{
	"session flood": func(w *errorWorld) *httptest.ResponseRecorder {
		var rec *httptest.ResponseRecorder
		for range 100 {
			if rec = w.do(req{path: "/account/key", auth: bearer("session-ghost")}); rec.Code == http.StatusTooManyRequests {
				break
			}
		}
		return rec
	},
	"lookup budget spent": func(w *errorWorld) *httptest.ResponseRecorder {
		// A fake clock that never moves: on the real one the budget of 1
		// a second could refill between the two requests.
		clk := &fakeClock{now: start}
		m, err := keys.New(memstore.New(), keys.Config{LookupRate: 1, Clock: clk.Now})
		if err != nil {
			panic(err)
		}
		defer m.Close()
		h := httpadapter.New(m, httpadapter.Options{})
		serve(h, req{path: "/account/key", auth: bearer(tokentest.Forged())})
		return serve(h, req{path: "/account/key", auth: bearer(tokentest.Forged())})
	},
	"two Authorization headers": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{path: "/account/key", auth: []string{"Bearer " + w.root.Secret, "Bearer " + w.child.Secret}})
	},
	"no Sessions configured": func(w *errorWorld) *httptest.ResponseRecorder {
		return serve(httpadapter.New(w.m, httpadapter.Options{}), req{path: "/account/key", auth: bearer("session-acct_1")})
	},
	"two credentials": func(w *errorWorld) *httptest.ResponseRecorder {
		h := httpadapter.New(w.m, httpadapter.Options{AcceptAPIKeyHeader: true})
		r := httptest.NewRequest(http.MethodGet, "/v1/data", nil)
		r.Header.Set("Authorization", "Bearer "+w.child.Secret)
		r.Header.Set("X-API-Key", w.child.Secret)
		rec := httptest.NewRecorder()
		h.RequireKey(http.HandlerFunc(dataHandler)).ServeHTTP(rec, r)
		return rec
	},
	"reissue body not an object": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{method: http.MethodPost, path: "/account/key/reissue", auth: bearer(w.root.Secret), body: strings.NewReader("[]")})
	},
	"retiring root on reissue": func(w *errorWorld) *httptest.ResponseRecorder {
		if _, err := w.m.Reissue(context.Background(), "acct_1", keys.WithGrace(time.Hour)); err != nil {
			panic(err)
		}
		return w.do(req{method: http.MethodPost, path: "/account/key/reissue", auth: bearer(w.root.Secret)})
	},
	"missing scope": func(w *errorWorld) *httptest.ResponseRecorder {
		scoped, err := w.m.IssueChild(context.Background(), "acct_1", keys.ChildOptions{Scopes: []string{"prices:read"}})
		if err != nil {
			panic(err)
		}
		return serve(w.h.RequireKey(http.HandlerFunc(dataHandler), httpadapter.WithScopes("orders:write")),
			req{path: "/v1/orders", auth: bearer(scoped.Secret)})
	},
	"address outside the networks": func(w *errorWorld) *httptest.ResponseRecorder {
		fenced, err := w.m.IssueChild(context.Background(), "acct_1", keys.ChildOptions{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		if err != nil {
			panic(err)
		}
		return w.do(req{path: "/v1/data", auth: bearer(fenced.Secret)}) // httptest's client is 192.0.2.1
	},
	"condition fails": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{method: http.MethodPost, path: "/account/key/reissue", auth: bearer("session-acct_1"),
			body: strings.NewReader(`{"if_root_key_id":"` + uuid.NewString() + `"}`)})
	},
	"unknown key id": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{path: "/account/keys/" + uuid.NewString(), auth: bearer(w.root.Secret)})
	},
	"another account's key id": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{path: "/account/keys/" + w.tRoot.Key.ID.String(), auth: bearer(w.root.Secret)})
	},
	"child key lists keys": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{path: "/account/keys", auth: bearer(w.child.Secret)})
	},
	"retiring root lists keys": func(w *errorWorld) *httptest.ResponseRecorder {
		if _, err := w.m.Reissue(context.Background(), "acct_1", keys.WithGrace(time.Hour)); err != nil {
			panic(err)
		}
		return w.do(req{path: "/account/keys", auth: bearer(w.root.Secret)})
	},
	"new child without a root": func(w *errorWorld) *httptest.ResponseRecorder {
		return w.do(req{method: http.MethodPost, path: "/account/keys", auth: bearer("session-nokey"), body: strings.NewReader("{}")})
	},
	"Manager closed": func(w *errorWorld) *httptest.ResponseRecorder {
		_ = w.m.Close()
		return w.do(req{path: "/account/key", auth: bearer(w.root.Secret)})
	},
}

// TestReadmeErrorTable checks README's error table against the adapter:
// each row's situations answer with its status, its headers (exactly,
// where it gives a value) and its codes, and every situation the tests
// know is in the table.
func TestReadmeErrorTable(t *testing.T) {
	rows := readErrorTable(t)
	claimed := map[string]bool{}
	for _, r := range rows {
		names, ok := readmeScenarios[r.situation]
		if !ok {
			t.Errorf("README error row %q has no scenario in readme_test.go", r.situation)
			continue
		}
		if r.status == http.StatusUnauthorized {
			if _, ok := r.headers["WWW-Authenticate"]; !ok {
				t.Errorf("README error row %q: a 401 without its WWW-Authenticate", r.situation)
			}
		}
		seen := map[string]bool{}
		for _, name := range names {
			claimed[name] = true
			w := newErrorWorld(t)
			var rec *httptest.ResponseRecorder
			if extra, ok := strings.CutPrefix(name, "+"); ok {
				rec = extraScenarios[extra](w)
			} else {
				i := slices.IndexFunc(errorRows(w), func(e errorRow) bool { return e.name == name })
				if i < 0 {
					t.Fatalf("no row %q in errorRows", name)
				}
				row := errorRows(w)[i]
				if row.setup != nil {
					row.setup(t)
				}
				rec = w.do(row.r)
			}
			code := errorCodeOf(t, rec)
			seen[code] = true
			if rec.Code != r.status || !slices.Contains(r.codes, code) {
				t.Errorf("README row %q, case %q: got %d %s, README says %d %v", r.situation, name, rec.Code, code, r.status, r.codes)
			}
			for h, want := range r.headers {
				got, present := rec.Header()[http.CanonicalHeaderKey(h)]
				switch {
				case !present:
					t.Errorf("README row %q, case %q: no %s header", r.situation, name, h)
				case want != "" && !headerMatches(got[0], want):
					t.Errorf("README row %q, case %q: %s = %q, README says %q", r.situation, name, h, got[0], want)
				}
			}
		}
		for _, c := range r.codes {
			if !seen[c] {
				t.Errorf("README row %q: no case answers %s", r.situation, c)
			}
		}
	}
	for s := range readmeScenarios {
		if !slices.ContainsFunc(rows, func(r readmeRow) bool { return r.situation == s }) {
			t.Errorf("scenario %q matches no README error row", s)
		}
	}
	// Every situation TestErrorTable walks is in README's table.
	for _, e := range errorRows(newErrorWorld(t)) {
		if !claimed[e.name] {
			t.Errorf("TestErrorTable's %q is in no README error row", e.name)
		}
	}
}

// errorCodeOf returns the code of an error body.
func errorCodeOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	m := regexp.MustCompile(`^\{"error":\{"code":"([a-z_]+)","message":"[^"]+"\}\}$`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("not an error body: %s", rec.Body)
	}
	return m[1]
}

// headerMatches compares a header value with README's, where "…" stands
// for any text (a scope, a number).
func headerMatches(got, want string) bool {
	before, after, wild := strings.Cut(want, "…")
	if !wild {
		return got == want
	}
	return len(got) >= len(before)+len(after) && strings.HasPrefix(got, before) && strings.HasSuffix(got, after)
}
