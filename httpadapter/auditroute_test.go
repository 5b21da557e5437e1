package httpadapter_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// auditAnswer is the exact shape of GET /account/audit (DESIGN 5.2).
type auditAnswer struct {
	Events []struct {
		ID         string                     `json:"id"`
		Type       string                     `json:"type"`
		OccurredAt time.Time                  `json:"occurred_at"`
		KeyID      *string                    `json:"key_id"`
		Actor      struct{ Type, ID *string } `json:"actor"`
		IP         *string                    `json:"ip"`
		UserAgent  *string                    `json:"user_agent"`
		Data       json.RawMessage            `json:"data"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

func decodeAudit(t *testing.T, rec *httptest.ResponseRecorder) auditAnswer {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /account/audit: %d %s", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var a auditAnswer
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("audit body %s: %v", rec.Body, err)
	}
	return a
}

func TestAuditRoute(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	child := f.child(t, "acct_1", keys.ChildOptions{})

	// A session reissues with a grace, from a browser with a hostile
	// User-Agent: the change goes through and is recorded cleanly.
	r := httptest.NewRequest(http.MethodPost, "/account/key/reissue", strings.NewReader(`{"grace_period_seconds": 60}`))
	r.Header.Set("Authorization", "Bearer session-acct_1")
	r.Header.Set("User-Agent", "evil\x00agent\xff")
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	newRoot := reissuedKey(t, rec)

	a := decodeAudit(t, f.get("/account/audit", "session-acct_1"))
	checkRateHeaders(t, f.get("/account/audit", "session-acct_1"))
	if len(a.Events) != 4 || a.NextCursor != nil {
		t.Fatalf("%d events, next %v; want 4 (created, issued root, issued child, reissued) and no next page", len(a.Events), a.NextCursor)
	}
	e := a.Events[0]
	if e.Type != keys.EventKeyReissued || *e.Actor.Type != "session" || *e.Actor.ID != "acct_1" || e.KeyID == nil ||
		e.IP == nil || *e.IP != "192.0.2.1" || e.UserAgent == nil || strings.ContainsRune(*e.UserAgent, 0) {
		t.Fatalf("reissue event %+v", e)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data, &data); err != nil || data["previous_root_id"] != root.Key.ID.String() || data["grace_end"] == nil {
		t.Fatalf("reissue data %s", e.Data)
	}
	if last := a.Events[3]; last.Type != keys.EventAccountCreated || *last.Actor.Type != "system" || last.Actor.ID != nil || last.KeyID != nil || last.IP != nil {
		t.Fatalf("oldest event %+v", last)
	}

	// The new root key reads the trail and pages through it.
	var seen []string
	path := "/account/audit?limit=3"
	for {
		a := decodeAudit(t, f.get(path, newRoot))
		for _, e := range a.Events {
			seen = append(seen, e.ID)
		}
		if a.NextCursor == nil {
			break
		}
		path = "/account/audit?limit=3&cursor=" + *a.NextCursor
	}
	if len(seen) != 4 {
		t.Fatalf("paged through %d events, want 4", len(seen))
	}

	// A child key, and the retiring root, are refused after counting.
	rec = f.get("/account/audit", child.Secret)
	checkError(t, rec, http.StatusForbidden, "child_key_forbidden")
	checkRateHeaders(t, rec)
	rec = f.get("/account/audit", root.Secret)
	checkError(t, rec, http.StatusForbidden, "root_key_retired")
	checkRateHeaders(t, rec)

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit=", "cursor=nope", "cursor=AAAA"} {
		checkError(t, f.get("/account/audit?"+q, "session-acct_1"), http.StatusBadRequest, "invalid_request")
	}
	checkError(t, f.post("/account/audit", "session-acct_1"), http.StatusMethodNotAllowed, "method_not_allowed")
	checkError(t, f.do(req{path: "/account/audit"}), http.StatusUnauthorized, "missing_credentials")
}

// TestAuditRouteRecordsAPIKeyActor checks that a reissue by a root key is
// recorded as the key's.
func TestAuditRouteRecordsAPIKeyActor(t *testing.T) {
	f := newFixture(t, keys.Config{}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	root := f.reissue(t, "acct_1")
	newRoot := reissuedKey(t, f.post("/account/key/reissue", root.Secret))
	a := decodeAudit(t, f.get("/account/audit?limit=1", newRoot))
	if len(a.Events) != 1 || a.NextCursor == nil {
		t.Fatalf("limit=1: %d events, next %v", len(a.Events), a.NextCursor)
	}
	e := a.Events[0]
	if e.Type != keys.EventKeyReissued || *e.Actor.Type != "api_key" || *e.Actor.ID != root.Key.ID.String() {
		t.Fatalf("event %s by %v %v, want key.reissued by the root key", e.Type, *e.Actor.Type, *e.Actor.ID)
	}
}
