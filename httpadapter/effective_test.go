package httpadapter_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
)

// GET /account/key reports as effective what is enforced: after a
// downgrade, the pool, not an override issued under the higher tier.
func TestGetAccountKeyEffectiveAfterDowngrade(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{}}, httpadapter.Options{})
	f.account(t, "acct_1", keys.Pro, true)
	f.reissue(t, "acct_1")
	r := 200
	c := f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: &r})
	if err := f.m.SetTier(t.Context(), "acct_1", keys.Free); err != nil {
		t.Fatal(err)
	}
	rec := f.get("/account/key", c.Secret)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		Key struct {
			Override  *int `json:"rate_requests_per_minute_override"`
			Effective int  `json:"effective_rate_requests_per_minute"`
		} `json:"key"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Key.Effective != 60 || body.Key.Override == nil || *body.Key.Override != 200 {
		t.Fatalf("effective rate %d, override %v; want 60 and 200: %s", body.Key.Effective, body.Key.Override, rec.Body)
	}
	if got := rec.Header().Get("X-RateLimit-Limit"); got != "60" {
		t.Errorf("X-RateLimit-Limit = %q, want 60", got)
	}
}
