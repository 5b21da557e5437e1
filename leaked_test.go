package keys_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// leakStore counts the store reads and writes a leak report makes.
type leakStore struct {
	store.Store
	resolves, revokes atomic.Int64
	failRevoke        bool
}

func (s *leakStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	s.resolves.Add(1)
	return s.Store.ResolveHash(ctx, h)
}

func (s *leakStore) RevokeLeaked(ctx context.Context, ids []uuid.UUID, now time.Time) ([]store.Key, error) {
	s.revokes.Add(1)
	if s.failRevoke {
		return nil, errors.New("disk on fire")
	}
	return s.Store.RevokeLeaked(ctx, ids, now)
}

func TestRevokeLeakedChild(t *testing.T) {
	var logs bytes.Buffer
	st := &leakStore{Store: memstore.New()}
	f := newFixtureOn(t, st, keys.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	leaked := f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	other := f.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, leaked.Secret) // warm the cache: the revocation must reach it
	st.resolves.Store(0)
	badSum := []byte(leaked.Secret)
	badSum[len(badSum)-1] ^= 1 // another base62 character: a wrong checksum

	junk := []string{"", "sk_live_nope", strings.Repeat("x", 10000), string(badSum),
		"sk_test_" + leaked.Secret[8:]}
	unknown := issueToken(t, "live") // well formed, from another store
	tokens := append([]string{leaked.Secret, unknown, leaked.Secret}, junk...)
	rep, err := f.m.RevokeLeaked(ctx(), tokens)
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	if got := st.resolves.Load(); got != 2 {
		t.Fatalf("%d store lookups, want 2 (one per distinct well-formed token; junk never reaches the store)", got)
	}
	if len(rep.Tokens) != len(tokens) {
		t.Fatalf("%d results for %d tokens", len(rep.Tokens), len(tokens))
	}
	for _, i := range []int{0, 2} {
		l := rep.Tokens[i]
		if !l.Found || !l.Live || !l.Revoked || l.Key.ID != leaked.Key.ID || l.Key.RevokedAt == nil || !l.Key.RevokedAt.Equal(start) {
			t.Fatalf("token %d: %+v, want the child found, live and revoked now", i, l)
		}
	}
	for i := 1; i < len(tokens); i++ {
		if l := rep.Tokens[i]; i != 2 && (l.Found || l.Live || l.Revoked || l.Key.ID != uuid.Nil) {
			t.Fatalf("token %d (unknown or junk): %+v, want nothing found", i, rep.Tokens[i])
		}
	}
	if len(rep.Revoked) != 1 || rep.Revoked[0].ID != leaked.Key.ID {
		t.Fatalf("Revoked = %v, want the child only", rep.Revoked)
	}
	if _, err := f.m.Authenticate(ctx(), leaked.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("Authenticate(leaked child) = %v, want ErrRevokedKey at once", err)
	}
	f.auth(t, root.Secret)
	f.auth(t, other.Secret)
	if strings.Contains(logs.String(), leaked.Secret) || strings.Contains(logs.String(), leaked.Secret[8:30]) {
		t.Fatal("the log holds the leaked token")
	}
	if !strings.Contains(logs.String(), leaked.Key.ID.String()) {
		t.Fatalf("the log does not name the revoked key: %s", logs.String())
	}

	// The same report again: found, not live, nothing revoked; the store
	// is called once more only to record the report (key.leaked, action
	// "reported").
	f.clock.Add(time.Minute)
	rep, err = f.m.RevokeLeaked(ctx(), tokens[:1])
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Tokens[0]
	if !l.Found || l.Live || l.Revoked || !l.Key.RevokedAt.Equal(start) || len(rep.Revoked) != 0 {
		t.Fatalf("repeated report: %+v, revoked %v; want found, already revoked at the first report", l, rep.Revoked)
	}
	if got := st.revokes.Load(); got != 2 {
		t.Fatalf("%d store calls, want 2", got)
	}
}

func TestRevokeLeakedRootRevokesAccount(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	f.account(t, "acct_2", keys.Pro)
	root := f.reissue(t, "acct_1")
	c1 := f.child(t, "acct_1", keys.ChildOptions{})
	c2 := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: ptr(start.Add(time.Hour))})
	root2 := f.reissue(t, "acct_2")
	for _, s := range []string{root.Secret, c1.Secret, c2.Secret} {
		f.auth(t, s)
	}
	f.clock.Add(2 * time.Hour) // c2 is expired now: still revoked, as a leak
	rep, err := f.m.RevokeLeaked(ctx(), []string{root.Secret})
	if err != nil {
		t.Fatalf("RevokeLeaked: %v", err)
	}
	now := start.Add(2 * time.Hour)
	if l := rep.Tokens[0]; !l.Revoked || !l.Key.IsRoot || !l.Key.RevokedAt.Equal(now) {
		t.Fatalf("the root: %+v", l)
	}
	var ids []uuid.UUID
	for _, k := range rep.Revoked {
		ids = append(ids, k.ID)
	}
	want := []uuid.UUID{root.Key.ID, c1.Key.ID, c2.Key.ID}
	if len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("Revoked = %v, want root, c1, c2", ids)
	}
	for _, s := range []string{root.Secret, c1.Secret, c2.Secret} {
		if _, err := f.m.Authenticate(ctx(), s); !errors.Is(err, keys.ErrRevokedKey) {
			t.Fatalf("Authenticate after the root leaked = %v, want ErrRevokedKey", err)
		}
	}
	if _, err := f.m.RootKey(ctx(), "acct_1"); !errors.Is(err, keys.ErrNoActiveRootKey) {
		t.Fatalf("RootKey after the root leaked = %v, want ErrNoActiveRootKey (nothing minted)", err)
	}
	f.auth(t, root2.Secret)
	f.reissue(t, "acct_1") // the owner reissues
}

func TestFindLeakedChangesNothing(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	rep, err := f.m.FindLeaked(ctx(), []string{root.Secret, "junk"})
	if err != nil {
		t.Fatal(err)
	}
	if l := rep.Tokens[0]; !l.Found || !l.Live || l.Revoked || l.Key.ID != root.Key.ID {
		t.Fatalf("FindLeaked = %+v", l)
	}
	if rep.Tokens[1].Found || len(rep.Revoked) != 0 {
		t.Fatalf("FindLeaked = %+v", rep)
	}
	f.auth(t, root.Secret)
}

func TestRevokeLeakedStoreFailure(t *testing.T) {
	st := &leakStore{Store: memstore.New(), failRevoke: true}
	f := newFixtureOn(t, st, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	_, err := f.m.RevokeLeaked(ctx(), []string{root.Secret})
	if err == nil || strings.Contains(err.Error(), root.Secret) {
		t.Fatalf("RevokeLeaked over a failing store = %v, want an error without the token", err)
	}
}
