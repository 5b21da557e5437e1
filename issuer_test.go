package keys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

func TestCreateAccount(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	a, err := f.m.Account(ctx(), "acct_1")
	if err != nil || a.Tier != keys.Pro || !a.EmailVerified || !a.CreatedAt.Equal(start) {
		t.Fatalf("Account = %+v, %v", a, err)
	}
	if err := f.m.CreateAccount(ctx(), keys.Account{ID: "acct_1"}); !errors.Is(err, keys.ErrAccountExists) {
		t.Fatalf("duplicate: %v, want ErrAccountExists", err)
	}
	if err := f.m.CreateAccount(ctx(), keys.Account{ID: "acct_free"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.m.Account(ctx(), "acct_free"); a.Tier != keys.Free {
		t.Fatalf("empty tier became %q, want free", a.Tier)
	}
	if _, err := f.m.Account(ctx(), "nobody"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	for name, a := range map[string]keys.Account{
		"empty id":     {ID: ""},
		"long id":      {ID: strings.Repeat("a", 129)},
		"control char": {ID: "acct\n2"},
		"bad utf-8":    {ID: "acct\xff"},
		"unknown tier": {ID: "acct_3", Tier: "platinum"},
	} {
		if err := f.m.CreateAccount(ctx(), a); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if err := f.m.CreateAccount(ctx(), keys.Account{ID: strings.Repeat("a", 128)}); err != nil {
		t.Errorf("128-byte id: %v", err)
	}
}

func TestSetTierAndEmail(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Free)
	if err := f.m.SetTier(ctx(), "acct_1", keys.Quant); err != nil {
		t.Fatal(err)
	}
	if err := f.m.SetEmailVerified(ctx(), "acct_1", false); err != nil {
		t.Fatal(err)
	}
	a, _ := f.m.Account(ctx(), "acct_1")
	if a.Tier != keys.Quant || a.EmailVerified {
		t.Fatalf("after changes: %+v", a)
	}
	if err := f.m.SetTier(ctx(), "acct_1", "gold"); !errors.Is(err, keys.ErrInvalidArgument) {
		t.Fatalf("unknown tier: %v", err)
	}
	if err := f.m.SetTier(ctx(), "nobody", keys.Pro); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	if err := f.m.SetEmailVerified(ctx(), "nobody", true); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestIssueNeedsVerifiedEmail(t *testing.T) {
	f := newFixture(t, keys.Config{})
	if err := f.m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Pro}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Reissue(ctx(), "acct_1"); !errors.Is(err, keys.ErrEmailNotVerified) {
		t.Fatalf("Reissue unverified: %v", err)
	}
	if _, err := f.m.IssueChild(ctx(), "acct_1", keys.ChildOptions{}); !errors.Is(err, keys.ErrEmailNotVerified) {
		t.Fatalf("IssueChild unverified: %v", err)
	}
	if _, err := f.m.Reissue(ctx(), "nobody"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("Reissue unknown: %v", err)
	}
	if err := f.m.SetEmailVerified(ctx(), "acct_1", true); err != nil {
		t.Fatal(err)
	}
	f.reissue(t, "acct_1")
}

func TestReissue(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	first := f.reissue(t, "acct_1")
	k := first.Key
	if !k.IsRoot || k.RootKeyID != k.ID || k.Prefix != "sk_live_root" || k.AccountID != "acct_1" ||
		!k.CreatedAt.Equal(start) || k.RevokedAt != nil || k.ExpiresAt != nil {
		t.Fatalf("first root = %+v", k)
	}
	if k.Effective != (keys.Limits{RequestsPerMinute: 300, RequestsPerMonth: 500_000}) || k.Pool != k.Effective {
		t.Fatalf("root limits = %+v / %+v", k.Effective, k.Pool)
	}
	if !strings.HasPrefix(first.Secret, "sk_live_") || len(first.Secret) != 57 {
		t.Fatalf("secret has the wrong shape (len %d)", len(first.Secret))
	}
	c1 := f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	c2 := f.child(t, "acct_1", keys.ChildOptions{})
	for _, tok := range []string{first.Secret, c1.Secret, c2.Secret} {
		f.auth(t, tok) // warm the cache
	}

	f.clock.Add(time.Minute)
	second := f.reissue(t, "acct_1")
	for name, tok := range map[string]string{"old root": first.Secret, "child 1": c1.Secret, "child 2": c2.Secret} {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrRevokedKey) {
			t.Errorf("%s after Reissue: %v, want ErrRevokedKey", name, err)
		}
	}
	if got := f.auth(t, second.Secret); got.ID != second.Key.ID {
		t.Fatalf("new root authenticates as %s", got.ID)
	}
	ks, err := f.m.ListKeys(ctx(), "acct_1")
	if err != nil || len(ks) != 4 {
		t.Fatalf("ListKeys = %d keys, %v", len(ks), err)
	}
	active := 0
	for _, k := range ks {
		if k.Active(f.clock.Now()) {
			active++
			if k.ID != second.Key.ID {
				t.Fatalf("key %s still active", k.ID)
			}
		} else if !k.RevokedAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("key %s RevokedAt = %v", k.ID, k.RevokedAt)
		}
	}
	if active != 1 {
		t.Fatalf("%d active keys, want 1", active)
	}
	root, err := f.m.RootKey(ctx(), "acct_1")
	if err != nil || root.ID != second.Key.ID {
		t.Fatalf("RootKey = %v, %v", root.ID, err)
	}
}

func TestIssueChild(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	if _, err := f.m.IssueChild(ctx(), "acct_1", keys.ChildOptions{}); !errors.Is(err, keys.ErrNoActiveRootKey) {
		t.Fatalf("IssueChild without a root: %v", err)
	}
	root := f.reissue(t, "acct_1")
	exp := start.Add(24 * time.Hour)
	c := f.child(t, "acct_1", keys.ChildOptions{Name: "ci", ExpiresAt: &exp,
		RequestsPerMonth: ptr(int64(1000)), RequestsPerMinute: ptr(10)})
	k := c.Key
	if k.IsRoot || k.RootKeyID != root.Key.ID || k.Prefix != "sk_live_child" || k.Name != "ci" || !k.ExpiresAt.Equal(exp) {
		t.Fatalf("child = %+v", k)
	}
	if k.Effective != (keys.Limits{RequestsPerMinute: 10, RequestsPerMonth: 1000}) ||
		*k.RequestsPerMonthOverride != 1000 || *k.RequestsPerMinuteOverride != 10 {
		t.Fatalf("child limits = %+v", k.Effective)
	}
	if got := f.auth(t, c.Secret); got.ID != k.ID || got.Effective != k.Effective || got.Pool.RequestsPerMinute != 300 {
		t.Fatalf("authenticated child = %+v", got)
	}
	plain := f.child(t, "acct_1", keys.ChildOptions{})
	if plain.Key.Effective != root.Key.Effective || plain.Key.RequestsPerMinuteOverride != nil || plain.Key.Name != "" {
		t.Fatalf("default child = %+v", plain.Key)
	}
	// Overrides at the tier's limits are allowed.
	f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(300), RequestsPerMonth: ptr(int64(500_000))})

	past := start.Add(-time.Second)
	for name, opts := range map[string]keys.ChildOptions{
		"expiry now":          {ExpiresAt: ptr(start)},
		"expiry past":         {ExpiresAt: &past},
		"zero quota":          {RequestsPerMonth: ptr(int64(0))},
		"negative quota":      {RequestsPerMonth: ptr(int64(-1))},
		"quota above pool":    {RequestsPerMonth: ptr(int64(500_001))},
		"zero rate":           {RequestsPerMinute: ptr(0)},
		"rate above pool":     {RequestsPerMinute: ptr(301)},
		"long name":           {Name: strings.Repeat("n", 129)},
		"control char name":   {Name: "a\x00b"},
		"invalid utf-8 name":  {Name: "\xc3"},
		"negative rate":       {RequestsPerMinute: ptr(-5)},
		"huge quota override": {RequestsPerMonth: ptr(int64(1 << 62))},
	} {
		if _, err := f.m.IssueChild(ctx(), "acct_1", opts); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := f.m.IssueChild(ctx(), "nobody", keys.ChildOptions{}); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	c1 := f.child(t, "acct_1", keys.ChildOptions{})
	c2 := f.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, c1.Secret)
	f.auth(t, c2.Secret)

	if err := f.m.Revoke(ctx(), c1.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx(), c1.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("revoked child: %v", err)
	}
	f.auth(t, c2.Secret)
	f.auth(t, root.Secret)
	if err := f.m.Revoke(ctx(), c1.Key.ID); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if err := f.m.Revoke(ctx(), uuid.New()); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatalf("unknown key: %v", err)
	}

	f.clock.Add(time.Second)
	if err := f.m.Revoke(ctx(), root.Key.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{root.Secret, c2.Secret} {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrRevokedKey) {
			t.Fatalf("after revoking the root: %v", err)
		}
	}
	k, err := f.m.Key(ctx(), c2.Key.ID)
	if err != nil || k.RevokedAt == nil || !k.RevokedAt.Equal(start.Add(time.Second)) {
		t.Fatalf("child of revoked root: %+v, %v", k.RevokedAt, err)
	}
	if _, err := f.m.RootKey(ctx(), "acct_1"); !errors.Is(err, keys.ErrNoActiveRootKey) {
		t.Fatalf("RootKey after revoking it: %v", err)
	}
	if _, err := f.m.IssueChild(ctx(), "acct_1", keys.ChildOptions{}); !errors.Is(err, keys.ErrNoActiveRootKey) {
		t.Fatalf("IssueChild after revoking the root: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]keys.Config{
		"environment":        {Environment: "prod"},
		"negative rate":      {Tiers: map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMinute: -1}}},
		"custom tier zero":   {Tiers: map[keys.Tier]keys.Limits{"gold": {RequestsPerMinute: 5}}},
		"empty tier name":    {Tiers: map[keys.Tier]keys.Limits{"": {RequestsPerMinute: 5, RequestsPerMonth: 5}}},
		"negative size":      {CacheSize: -1},
		"negative flush":     {FlushInterval: -time.Second},
		"negative quota pro": {Tiers: map[keys.Tier]keys.Limits{keys.Pro: {RequestsPerMonth: -1}}},
	} {
		if _, err := keys.New(nil, cfg); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("%s with nil store: %v", name, err)
		}
		f := newFixture(t, keys.Config{})
		if _, err := keys.New(f.st, cfg); !errors.Is(err, keys.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestTierDefaultsAndOverrides(t *testing.T) {
	f := newFixture(t, keys.Config{Tiers: map[keys.Tier]keys.Limits{
		keys.Pro: {RequestsPerMinute: 1000},
		"gold":   {RequestsPerMinute: 7, RequestsPerMonth: 70},
	}})
	want := map[keys.Tier]keys.Limits{
		keys.Free:    {RequestsPerMinute: 60, RequestsPerMonth: 10_000},
		keys.Starter: {RequestsPerMinute: 300, RequestsPerMonth: 100_000},
		keys.Pro:     {RequestsPerMinute: 1000, RequestsPerMonth: 500_000},
		keys.Quant:   {RequestsPerMinute: 1_200, RequestsPerMonth: 5_000_000},
		"gold":       {RequestsPerMinute: 7, RequestsPerMonth: 70},
	}
	for tier, lim := range want {
		id := "acct_" + string(tier)
		f.account(t, id, tier)
		if got := f.reissue(t, id).Key.Effective; got != lim {
			t.Errorf("%s: effective %+v, want %+v", tier, got, lim)
		}
	}
}

// lostReplyStore fails chosen calls after letting them through, like a
// store whose reply is lost after the commit, and can run a hook inside
// IssueChild.
type lostReplyStore struct {
	store.Store
	failRevoke, failUpdate bool
	beforeInsert           func() // runs between reading the root and inserting a child
}

var errLostReply = errors.New("connection reset by peer")

func (s *lostReplyStore) RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	k, err := s.Store.RevokeKey(ctx, id, now)
	if s.failRevoke {
		return store.Key{}, errLostReply
	}
	return k, err
}

func (s *lostReplyStore) UpdateAccount(ctx context.Context, id string, u store.AccountUpdate) error {
	err := s.Store.UpdateAccount(ctx, id, u)
	if s.failUpdate {
		return errLostReply
	}
	return err
}

func (s *lostReplyStore) InsertChildKey(ctx context.Context, k store.Key) error {
	if s.beforeInsert != nil {
		f := s.beforeInsert
		s.beforeInsert = nil
		f()
	}
	return s.Store.InsertChildKey(ctx, k)
}

func TestChangesWithLostRepliesStillInvalidate(t *testing.T) {
	ls := &lostReplyStore{Store: memstore.New()}
	f := newFixtureOn(t, ls, keys.Config{})
	f.account(t, "acct_1", keys.Free)
	f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, c.Secret)

	ls.failRevoke = true
	if err := f.m.Revoke(ctx(), c.Key.ID); !errors.Is(err, errLostReply) || errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatalf("Revoke with a lost reply: %v", err)
	}
	if _, err := f.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("key revoked behind a lost reply still served from cache: %v", err)
	}

	ls.failRevoke = false
	c2 := f.child(t, "acct_1", keys.ChildOptions{})
	if k := f.auth(t, c2.Secret); k.Effective.RequestsPerMinute != 60 {
		t.Fatalf("free child rate %d", k.Effective.RequestsPerMinute)
	}
	ls.failUpdate = true
	if err := f.m.SetTier(ctx(), "acct_1", keys.Quant); !errors.Is(err, errLostReply) {
		t.Fatalf("SetTier with a lost reply: %v", err)
	}
	if k := f.auth(t, c2.Secret); k.Effective.RequestsPerMinute != 1200 {
		t.Fatalf("tier changed behind a lost reply, cache still says rate %d", k.Effective.RequestsPerMinute)
	}
}

// A Reissue landing between IssueChild's read of the root and its insert
// does not make IssueChild fail: the child goes to the new root.
func TestIssueChildRacingReissue(t *testing.T) {
	ls := &lostReplyStore{Store: memstore.New()}
	f := newFixtureOn(t, ls, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	var second keys.Issued
	ls.beforeInsert = func() { second = f.reissue(t, "acct_1") }
	c := f.child(t, "acct_1", keys.ChildOptions{})
	if c.Key.RootKeyID != second.Key.ID {
		t.Fatalf("child of %s, want the new root %s", c.Key.RootKeyID, second.Key.ID)
	}
	f.auth(t, c.Secret)
}
