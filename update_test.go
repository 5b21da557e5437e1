package keys_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
)

func TestUpdateKey(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{Name: "ci", RequestsPerMinute: ptr(10)})
	ck := f.auth(t, c.Secret) // cached now

	exp := start.Add(48 * time.Hour)
	k, err := f.m.UpdateKey(ctx(), "acct_1", c.Key.ID, keys.KeyUpdate{
		Name: keys.To("deploy"), ExpiresAt: keys.To(&exp), RequestsPerMonth: keys.To(ptr[int64](1000)),
	})
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	if k.Name != "deploy" || k.ExpiresAt == nil || !k.ExpiresAt.Equal(exp) || *k.RequestsPerMonthOverride != 1000 ||
		*k.RequestsPerMinuteOverride != 10 || k.Effective.RequestsPerMonth != 1000 || k.RevokedAt != nil {
		t.Fatalf("after update: %+v", k)
	}
	// The cache saw the change at once: the held key is re-resolved.
	d, err := f.m.Allow(ctx(), ck)
	if err != nil || d.Quota.Limit != 1000 {
		t.Fatalf("Allow after update: %+v, %v (want the new quota 1000)", d.Quota, err)
	}
	if got := f.auth(t, c.Secret); got.Name != "deploy" {
		t.Fatalf("Authenticate after update: name %q", got.Name)
	}
	// Clearing.
	k, err = f.m.UpdateKey(ctx(), "acct_1", c.Key.ID, keys.KeyUpdate{
		Name: keys.To(""), ExpiresAt: keys.To[*time.Time](nil), RequestsPerMinute: keys.To[*int](nil),
	})
	if err != nil || k.Name != "" || k.ExpiresAt != nil || k.RequestsPerMinuteOverride != nil || *k.RequestsPerMonthOverride != 1000 {
		t.Fatalf("after clearing: %+v, %v", k, err)
	}
	// A root can be renamed.
	k, err = f.m.UpdateKey(ctx(), "acct_1", root.Key.ID, keys.KeyUpdate{Name: keys.To("main")})
	if err != nil || k.Name != "main" || !k.IsRoot {
		t.Fatalf("rename root: %+v, %v", k, err)
	}
}

func TestUpdateKeyRefusals(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.account(t, "acct_2", keys.Pro)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	f.reissue(t, "acct_2")
	past := start.Add(-time.Second)
	for _, tc := range []struct {
		name string
		acct string
		id   uuid.UUID
		u    keys.KeyUpdate
		want error
		text string
	}{
		{"other account", "acct_2", c.Key.ID, keys.KeyUpdate{Name: keys.To("x")}, keys.ErrKeyNotFound, ""},
		{"no such key", "acct_1", uuid.New(), keys.KeyUpdate{}, keys.ErrKeyNotFound, ""},
		{"no such account", "nobody", c.Key.ID, keys.KeyUpdate{}, keys.ErrAccountNotFound, ""},
		{"long name", "acct_1", c.Key.ID, keys.KeyUpdate{Name: keys.To(string(make([]byte, 129)))}, keys.ErrInvalidArgument, "name"},
		{"past expiry", "acct_1", c.Key.ID, keys.KeyUpdate{ExpiresAt: keys.To(&past)}, keys.ErrInvalidArgument, "expires_at"},
		{"quota 0", "acct_1", c.Key.ID, keys.KeyUpdate{RequestsPerMonth: keys.To(ptr[int64](0))}, keys.ErrInvalidArgument, "quota_requests_per_month_override"},
		{"quota over pool", "acct_1", c.Key.ID, keys.KeyUpdate{RequestsPerMonth: keys.To(ptr[int64](500_001))}, keys.ErrInvalidArgument, "quota_requests_per_month_override"},
		{"rate over pool", "acct_1", c.Key.ID, keys.KeyUpdate{RequestsPerMinute: keys.To(ptr(301))}, keys.ErrInvalidArgument, "rate_requests_per_minute_override"},
		{"root expiry", "acct_1", root.Key.ID, keys.KeyUpdate{ExpiresAt: keys.To[*time.Time](nil)}, keys.ErrInvalidArgument, "expires_at"},
		{"root quota", "acct_1", root.Key.ID, keys.KeyUpdate{RequestsPerMonth: keys.To(ptr[int64](5))}, keys.ErrInvalidArgument, "quota_requests_per_month_override"},
	} {
		_, err := f.m.UpdateKey(ctx(), tc.acct, tc.id, tc.u)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.text != "" && (err == nil || !strings.Contains(err.Error(), tc.text)) {
			t.Errorf("%s: error %v does not name %s", tc.name, err, tc.text)
		}
	}
	if k, _ := f.m.Key(ctx(), c.Key.ID); k.Name != "ci" || k.ExpiresAt != nil {
		t.Fatalf("a refused update changed the key: %+v", k)
	}
	// A revoked key cannot be changed, and keeps its revocation.
	if err := f.m.Revoke(ctx(), c.Key.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.m.UpdateKey(ctx(), "acct_1", c.Key.ID, keys.KeyUpdate{Name: keys.To("x")})
	if !errors.Is(err, keys.ErrInvalidArgument) || !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("update of a revoked key: %v", err)
	}
}
