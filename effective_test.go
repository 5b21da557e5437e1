package keys_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keys"
)

// A child issued with an override under a higher tier keeps the override
// on record after a downgrade, but what is enforced, and so reported as
// Effective by every path that hands out a Key, is the new pool.
func TestEffectiveLimitsAfterDowngrade(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro) // 300/min, 500,000/month
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(200), RequestsPerMonth: ptr(int64(400_000))})
	if c.Key.Effective.RequestsPerMinute != 200 {
		t.Fatalf("under pro: effective rate %d, want 200", c.Key.Effective.RequestsPerMinute)
	}
	if err := f.m.SetTier(ctx(), "acct_1", keys.Free); err != nil { // 60/min, 10,000/month
		t.Fatal(err)
	}
	want := keys.Limits{RequestsPerMinute: 60, RequestsPerMonth: 10_000}
	check := func(how string, k keys.Key) {
		t.Helper()
		if k.Effective != want {
			t.Errorf("%s: Effective = %+v, want %+v", how, k.Effective, want)
		}
		if k.RequestsPerMinuteOverride == nil || *k.RequestsPerMinuteOverride != 200 {
			t.Errorf("%s: the override on record changed: %v", how, k.RequestsPerMinuteOverride)
		}
	}
	k := f.auth(t, c.Secret)
	check("Authenticate", k)
	got, err := f.m.Key(ctx(), c.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("Key", got)
	ks, err := f.m.ListKeys(ctx(), "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, lk := range ks {
		if lk.ID == c.Key.ID {
			check("ListKeys", lk)
		}
	}
	if r, err := f.m.RootKey(ctx(), "acct_1"); err != nil || r.Effective != want || r.ID != root.Key.ID {
		t.Errorf("RootKey: %+v, %v", r.Effective, err)
	}
	// What is reported is what is enforced: 60 pass, the 61st does not.
	for range 60 {
		mustAllow(t, f, k)
	}
	d := wantRefused(t, f, k, keys.ErrRateLimited)
	if d.Limit != 60 {
		t.Errorf("refusal reports a limit of %d, want 60", d.Limit)
	}
}

func TestIssuedJSONRedactsSecret(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	iss := f.reissue(t, "acct_1")
	for _, v := range []any{iss, &iss, []keys.Issued{iss}, map[string]any{"issued": iss}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), iss.Secret) {
			t.Fatalf("json.Marshal(%T) holds the secret: %s", v, b)
		}
		if !strings.Contains(string(b), "[REDACTED]") || !strings.Contains(string(b), iss.Key.ID.String()) {
			t.Fatalf("json.Marshal(%T) = %s, want the key with the secret redacted", v, b)
		}
	}
}
