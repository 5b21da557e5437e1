package keys_test

import (
	"errors"
	"net/netip"
	"slices"
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

func TestUpdateKeyRestrictions(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{Scopes: []string{"a:read"}, Metadata: map[string]string{"p": "1"}})
	net := netip.MustParsePrefix("10.1.2.3/8")
	k, err := f.m.UpdateKey(ctx(), "acct_1", c.Key.ID, keys.KeyUpdate{
		Scopes: keys.To([]string{"b:write", "a:read", "b:write"}), AllowedNetworks: keys.To([]netip.Prefix{net}),
		Metadata: keys.To(map[string]string{"q": "2"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k.Scopes, []string{"a:read", "b:write"}) || len(k.AllowedNetworks) != 1 || k.AllowedNetworks[0].String() != "10.0.0.0/8" ||
		len(k.Metadata) != 1 || k.Metadata["q"] != "2" {
		t.Fatalf("after update: %+v", k)
	}
	// The authenticated key carries the new restrictions at once.
	if ak := f.auth(t, c.Secret); !ak.HasScope("b:write") || ak.AllowsAddr(netip.MustParseAddr("192.0.2.1")) {
		t.Fatalf("authenticated key after update: scopes %v networks %v", ak.Scopes, ak.AllowedNetworks)
	}
	// nil lifts scopes and networks; an empty map clears metadata.
	k, err = f.m.UpdateKey(ctx(), "acct_1", c.Key.ID, keys.KeyUpdate{
		Scopes: keys.To[[]string](nil), AllowedNetworks: keys.To[[]netip.Prefix](nil), Metadata: keys.To(map[string]string{}),
	})
	if err != nil || k.Scopes != nil || k.AllowedNetworks != nil || k.Metadata != nil {
		t.Fatalf("after clearing: %+v, %v", k, err)
	}
	// A root takes metadata, not restrictions.
	if k, err := f.m.UpdateKey(ctx(), "acct_1", root.Key.ID, keys.KeyUpdate{Metadata: keys.To(map[string]string{"env": "prod"})}); err != nil || k.Metadata["env"] != "prod" {
		t.Fatalf("root metadata: %+v, %v", k, err)
	}
	for _, tc := range []struct {
		name string
		id   uuid.UUID
		u    keys.KeyUpdate
		text string
	}{
		{"empty scopes", c.Key.ID, keys.KeyUpdate{Scopes: keys.To([]string{})}, "scopes"},
		{"bad scope", c.Key.ID, keys.KeyUpdate{Scopes: keys.To([]string{"UPPER"})}, "scopes"},
		{"empty networks", c.Key.ID, keys.KeyUpdate{AllowedNetworks: keys.To([]netip.Prefix{})}, "networks"},
		{"bad metadata key", c.Key.ID, keys.KeyUpdate{Metadata: keys.To(map[string]string{"a b": "x"})}, "metadata"},
		{"root scopes", root.Key.ID, keys.KeyUpdate{Scopes: keys.To([]string{"a"})}, "scopes"},
		{"root networks", root.Key.ID, keys.KeyUpdate{AllowedNetworks: keys.To[[]netip.Prefix](nil)}, "allowed_networks"},
	} {
		_, err := f.m.UpdateKey(ctx(), "acct_1", tc.id, tc.u)
		if !errors.Is(err, keys.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming %s", tc.name, err, tc.text)
		}
	}
}
