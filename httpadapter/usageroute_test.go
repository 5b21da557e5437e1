package httpadapter_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

type usageBody struct {
	Month    string     `json:"month"`
	ResetsAt string     `json:"resets_at"`
	Account  usageCount `json:"account"`
	Keys     []struct {
		ID string `json:"id"`
		usageCount
	} `json:"keys"`
}

type usageCount struct {
	Requests  int64 `json:"requests"`
	Quota     int64 `json:"quota"`
	Remaining int64 `json:"remaining"`
}

func TestUsageRoute(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	c2 := g.fixture.child(t, "acct_1", keys.ChildOptions{RequestsPerMonth: ptr[int64](100)})
	data := func(token string, n int) {
		t.Helper()
		for range n {
			if rec := g.do(req{path: "/v1/data", auth: bearer(token)}); rec.Code != 200 {
				t.Fatalf("data request = %d %s", rec.Code, rec.Body)
			}
		}
	}
	data(g.root.Secret, 3)
	data(g.child.Secret, 5)
	data(c2.Secret, 7)
	data(g.other.Secret, 11) // another account

	check := func(when string) {
		t.Helper()
		rec := g.send("GET", "/account/usage", "session-acct_1", "")
		checkRateHeaders(t, rec)
		want := fmt.Sprintf(`{"month":"2026-03","resets_at":"2026-04-01T00:00:00Z",`+
			`"account":{"requests":15,"quota":500000,"remaining":499985},"keys":[`+
			`{"id":"%s","requests":3,"quota":500000,"remaining":499985},`+
			`{"id":"%s","requests":5,"quota":500000,"remaining":499985},`+
			`{"id":"%s","requests":7,"quota":100,"remaining":93}]}`, g.root.Key.ID, g.child.Key.ID, c2.Key.ID)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("%s: usage = %d\n%s\nwant\n%s", when, rec.Code, rec.Body, want)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
		}
	}
	check("before a flush")
	if err := g.m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after a flush")

	// The root key sees the same; a child sees itself and the pool.
	var u usageBody
	decode(t, g.send("GET", "/account/usage", g.root.Secret, ""), 200, &u)
	if len(u.Keys) != 3 {
		t.Fatalf("root sees %d entries", len(u.Keys))
	}
	rec := g.send("GET", "/account/usage", c2.Secret, "")
	decode(t, rec, 200, &u)
	checkRateHeaders(t, rec)
	if len(u.Keys) != 1 || u.Keys[0].ID != c2.Key.ID.String() || u.Keys[0].Requests != 7 || u.Account.Requests != 15 {
		t.Fatalf("child's view: %+v", u)
	}
	// A retiring root sees itself and the pool.
	if _, err := g.m.Reissue(context.Background(), "acct_1", keys.WithGrace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	decode(t, g.send("GET", "/account/usage", g.root.Secret, ""), 200, &u)
	if len(u.Keys) != 1 || u.Keys[0].ID != g.root.Key.ID.String() || u.Account.Requests != 15 {
		t.Fatalf("retiring root's view: %+v", u)
	}
	// Another month: nothing counted, the keys active now still listed.
	decode(t, g.send("GET", "/account/usage?month=2026-02", "session-acct_1", ""), 200, &u)
	if u.Month != "2026-02" || u.ResetsAt != "2026-03-01T00:00:00Z" || u.Account.Requests != 0 || u.Account.Remaining != 500000 {
		t.Fatalf("February: %+v", u)
	}
	// An account without keys.
	rec = g.send("GET", "/account/usage", "session-nokey", "")
	if rec.Code != 200 || rec.Body.String() != `{"month":"2026-03","resets_at":"2026-04-01T00:00:00Z","account":{"requests":0,"quota":500000,"remaining":500000},"keys":[]}` {
		t.Fatalf("usage without keys = %d %s", rec.Code, rec.Body)
	}
	checkError(t, g.send("GET", "/account/usage", "session-ghost", ""), 404, "account_not_found")
	checkError(t, g.send("GET", "/account/usage", "", ""), 401, "missing_credentials")
	// HEAD: the headers without a body.
	rec = g.send("HEAD", "/account/usage", g.other.Secret, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("HEAD = %d", rec.Code)
	}
}

// TestUsageRouteExact admits N data requests through RequireKey and finds
// exactly N in GET /account/usage, before and after a flush, with the
// quota's own count agreeing.
func TestUsageRouteExact(t *testing.T) {
	g := newMgmt(t, httpadapter.Options{})
	const n = 137
	for range n {
		if rec := g.do(req{path: "/v1/data", auth: bearer(g.child.Secret)}); rec.Code != 200 {
			t.Fatal(rec.Body)
		}
		// Account requests between data requests count nothing.
		if rec := g.send("GET", "/account/keys", g.root.Secret, ""); rec.Code != 200 {
			t.Fatal(rec.Body)
		}
	}
	for _, flush := range []bool{false, true} {
		if flush {
			if err := g.m.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		var u usageBody
		decode(t, g.send("GET", "/account/usage", g.child.Secret, ""), 200, &u)
		if u.Account.Requests != n || len(u.Keys) != 1 || u.Keys[0].Requests != n || u.Keys[0].Remaining != 500_000-n {
			t.Fatalf("flushed=%v: usage = %+v, want %d", flush, u, n)
		}
	}
}
