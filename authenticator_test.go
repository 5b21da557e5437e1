package keys_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// countingStore counts calls that reach the store and can rewrite what
// ResolveHash returns.
type countingStore struct {
	store.Store
	resolves, lastUsed atomic.Int64
	keysSeen           []store.Key
	mu                 sync.Mutex
	rewrite            func(*store.Resolved)
}

func (s *countingStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	s.resolves.Add(1)
	r, err := s.Store.ResolveHash(ctx, h)
	if err == nil && s.rewrite != nil {
		s.rewrite(&r)
	}
	return r, err
}

func (s *countingStore) RecordLastUsed(ctx context.Context, b []store.LastUsed) error {
	s.lastUsed.Add(1)
	return s.Store.RecordLastUsed(ctx, b)
}

func (s *countingStore) ReplaceRootKey(ctx context.Context, k store.Key, expect uuid.UUID, now time.Time) error {
	s.mu.Lock()
	s.keysSeen = append(s.keysSeen, k)
	s.mu.Unlock()
	return s.Store.ReplaceRootKey(ctx, k, expect, now)
}

func (s *countingStore) RotateRootKey(ctx context.Context, k store.Key, r store.Rotation) (store.Key, error) {
	s.mu.Lock()
	s.keysSeen = append(s.keysSeen, k)
	s.mu.Unlock()
	return s.Store.RotateRootKey(ctx, k, r)
}

func (s *countingStore) InsertChildKey(ctx context.Context, k store.Key) error {
	s.mu.Lock()
	s.keysSeen = append(s.keysSeen, k)
	s.mu.Unlock()
	return s.Store.InsertChildKey(ctx, k)
}

func TestAuthenticateErrors(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	exp := start.Add(time.Hour)
	expiring := f.child(t, "acct_1", keys.ChildOptions{ExpiresAt: &exp})
	revoked := f.child(t, "acct_1", keys.ChildOptions{})
	if err := f.m.Revoke(ctx(), revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	other := newFixture(t, keys.Config{})
	other.account(t, "x", keys.Pro)
	unknown := other.reissue(t, "x").Secret
	testEnv := newFixture(t, keys.Config{Environment: "test"})
	testEnv.account(t, "x", keys.Pro)
	testTok := testEnv.reissue(t, "x").Secret
	if !strings.HasPrefix(testTok, "sk_test_") {
		t.Fatalf("test manager issued %q...", testTok[:8])
	}

	malformed := []string{"", "sk_live_", "Bearer " + root.Secret, root.Secret[:56], root.Secret + "A",
		root.Secret[:30] + "_" + root.Secret[31:], strings.Repeat("x", 8192), testTok,
		root.Secret[:56] + string(rune(root.Secret[56]^1))}
	before := cs.resolves.Load()
	for _, tok := range malformed {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrMalformedKey) {
			t.Errorf("Authenticate(%.20q): %v, want ErrMalformedKey", tok, err)
		}
	}
	if n := cs.resolves.Load() - before; n != 0 {
		t.Fatalf("malformed tokens reached the store %d times", n)
	}
	if _, err := f.m.Authenticate(ctx(), unknown); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := f.m.Authenticate(ctx(), revoked.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Errorf("revoked: %v", err)
	}
	f.auth(t, expiring.Secret)
	f.clock.Set(exp.Add(-time.Nanosecond))
	f.auth(t, expiring.Secret)
	f.clock.Set(exp)
	if _, err := f.m.Authenticate(ctx(), expiring.Secret); !errors.Is(err, keys.ErrExpiredKey) {
		t.Errorf("expired (cached): %v", err)
	}
	if _, err := testEnv.m.Authenticate(ctx(), root.Secret); !errors.Is(err, keys.ErrMalformedKey) {
		t.Errorf("live token in a test manager: %v", err)
	}
	if got := testEnv.auth(t, testTok); got.Prefix != "sk_test_root" {
		t.Errorf("test root prefix = %q", got.Prefix)
	}
}

// A backend that forgot to revoke children on reissue still cannot keep a
// child alive: Authenticate checks the child's root against the account's
// active root.
func TestCascadeCheckedInAuthenticate(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	cs.rewrite = func(r *store.Resolved) { r.Key.RevokedAt = nil } // the forgetful backend
	f := newFixtureOn(t, cs, keys.Config{CacheTTL: -1})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, c.Secret)
	f.reissue(t, "acct_1")
	if _, err := f.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("child of a replaced root: %v, want ErrRevokedKey", err)
	}
}

func TestCacheServesWarmKeysAndSeesLocalChanges(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{})
	f.account(t, "acct_1", keys.Free)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, c.Secret)
	before := cs.resolves.Load()
	for range 100 {
		f.auth(t, c.Secret)
	}
	if n := cs.resolves.Load() - before; n != 0 {
		t.Fatalf("warm key read the store %d times", n)
	}
	// A tier change shows at once in a cached key.
	if err := f.m.SetTier(ctx(), "acct_1", keys.Quant); err != nil {
		t.Fatal(err)
	}
	if got := f.auth(t, c.Secret); got.Effective.RequestsPerMinute != 1200 {
		t.Fatalf("after SetTier: effective %+v", got.Effective)
	}
	// Reissue kills the cached child on the very next call.
	f.auth(t, root.Secret)
	f.reissue(t, "acct_1")
	if _, err := f.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("cached child after Reissue: %v", err)
	}
	if _, err := f.m.Authenticate(ctx(), root.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("cached root after Reissue: %v", err)
	}
}

func TestRevocationByAnotherManagerSeenAfterTTL(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	a := newFixtureOn(t, st, keys.Config{Clock: clock.Now, CacheTTL: 5 * time.Second})
	b := newFixtureOn(t, st, keys.Config{Clock: clock.Now, CacheTTL: 5 * time.Second})
	a.account(t, "acct_1", keys.Pro)
	a.reissue(t, "acct_1")
	c := a.child(t, "acct_1", keys.ChildOptions{})
	b.auth(t, c.Secret)
	if err := a.m.Revoke(ctx(), c.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("revoking manager: %v", err)
	}
	clock.Add(4 * time.Second)
	b.auth(t, c.Secret) // within the documented staleness bound
	clock.Add(time.Second)
	if _, err := b.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("other manager after CacheTTL: %v", err)
	}
}

func TestCacheDisabled(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{CacheTTL: -1})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	before := cs.resolves.Load()
	for range 5 {
		f.auth(t, root.Secret)
	}
	if n := cs.resolves.Load() - before; n != 5 {
		t.Fatalf("%d store reads with the cache disabled, want 5", n)
	}
	if keys.CacheLen(f.m) != 0 {
		t.Fatal("disabled cache holds entries")
	}
}

func TestCacheSizeBound(t *testing.T) {
	f := newFixture(t, keys.Config{CacheSize: 128})
	f.account(t, "acct_1", keys.Pro)
	f.reissue(t, "acct_1")
	var tokens []string
	for range 1000 {
		tokens = append(tokens, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
	}
	for _, tok := range tokens {
		f.auth(t, tok)
	}
	if n := keys.CacheLen(f.m); n > 128 || n < 64 {
		t.Fatalf("cache holds %d keys, want at most 128 (and not nearly empty)", n)
	}
	for _, tok := range tokens[:10] {
		f.auth(t, tok) // evicted keys still authenticate
	}
}

func TestLastUsedIsBatched(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{FlushInterval: time.Hour})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{})
	for i := range 100 {
		f.clock.Add(100 * time.Millisecond)
		f.auth(t, root.Secret)
		if i%2 == 0 {
			f.auth(t, c.Secret)
		}
	}
	if n := cs.lastUsed.Load(); n != 0 {
		t.Fatalf("%d store writes before a flush, want 0", n)
	}
	if err := f.m.Flush(ctx()); err != nil {
		t.Fatal(err)
	}
	if n := cs.lastUsed.Load(); n != 1 {
		t.Fatalf("%d RecordLastUsed calls for one flush, want 1", n)
	}
	k, _ := f.m.Key(ctx(), root.Key.ID)
	want := f.clock.Now().Truncate(time.Second)
	if k.LastUsedAt == nil || !k.LastUsedAt.Equal(want) {
		t.Fatalf("root LastUsedAt = %v, want %v", k.LastUsedAt, want)
	}
	if k, _ := f.m.Key(ctx(), c.Key.ID); k.LastUsedAt == nil {
		t.Fatal("child LastUsedAt not flushed")
	}
	if err := f.m.Flush(ctx()); err != nil || cs.lastUsed.Load() != 1 {
		t.Fatalf("an idle flush wrote again: %v", err)
	}
}

func TestCloseFlushesAndIsIdempotent(t *testing.T) {
	st := memstore.New()
	clock := newFakeClock(start)
	m, err := keys.New(st, keys.Config{Clock: clock.Now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CreateAccount(ctx(), keys.Account{ID: "a", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	iss, err := m.Reissue(ctx(), "a")
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Authenticate(ctx(), iss.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Allow(ctx(), k); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	sk, _ := st.Key(ctx(), iss.Key.ID)
	if sk.LastUsedAt == nil || !sk.LastUsedAt.Equal(start) {
		t.Fatalf("LastUsedAt after Close = %v", sk.LastUsedAt)
	}
	u, _ := st.Usage(ctx(), "a", iss.Key.ID, store.MonthOf(start))
	if u.Key != 1 || u.Account != 1 {
		t.Fatalf("usage after Close = %+v, want 1/1", u)
	}
	if _, err := m.Authenticate(ctx(), iss.Secret); !errors.Is(err, keys.ErrClosed) {
		t.Fatalf("Authenticate after Close: %v", err)
	}
	if _, err := m.Reissue(ctx(), "a"); !errors.Is(err, keys.ErrClosed) {
		t.Fatalf("Reissue after Close: %v", err)
	}
}

func TestPepperChangesTheHash(t *testing.T) {
	st := memstore.New()
	peppered := newFixtureOn(t, st, keys.Config{Pepper: []byte("server secret")})
	plain := newFixtureOn(t, st, keys.Config{})
	peppered.account(t, "acct_1", keys.Pro)
	iss := peppered.reissue(t, "acct_1")
	peppered.auth(t, iss.Secret)
	if _, err := plain.m.Authenticate(ctx(), iss.Secret); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("peppered key in an unpeppered manager: %v", err)
	}
	sk, _ := st.Key(ctx(), iss.Key.ID)
	if sk.Hash == sha256.Sum256([]byte(iss.Secret)) {
		t.Fatal("peppered manager stored a plain SHA-256")
	}
}

func TestSecretNeverLeaves(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	var logs bytes.Buffer
	f := newFixtureOn(t, cs, keys.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	f.account(t, "acct_1", keys.Pro)
	iss := f.reissue(t, "acct_1")
	ch := f.child(t, "acct_1", keys.ChildOptions{Name: "ci"})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("issued", "key", iss, "child", ch)
	for _, s := range []string{fmt.Sprint(iss), fmt.Sprintf("%+v", iss), fmt.Sprintf("%#v", iss), fmt.Sprint(ch.Key), logs.String()} {
		for _, secret := range []string{iss.Secret, ch.Secret, iss.Secret[8:51]} {
			if strings.Contains(s, secret) {
				t.Fatalf("secret printed in %q", s)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(iss), "REDACTED") {
		t.Fatal("Issued.String does not say the secret is redacted")
	}
	for _, k := range cs.keysSeen {
		if s := fmt.Sprintf("%+v", k); strings.Contains(s, iss.Secret[8:51]) || strings.Contains(s, ch.Secret[8:51]) {
			t.Fatal("the store was given the plaintext")
		}
		if k.Hash == (store.Hash{}) {
			t.Fatal("the store was given an empty hash")
		}
	}
	if len(cs.keysSeen) != 2 || cs.keysSeen[0].Hash != sha256.Sum256([]byte(iss.Secret)) {
		t.Fatal("the store did not get the SHA-256 of the token")
	}
}

func TestContext(t *testing.T) {
	if _, ok := keys.FromContext(ctx()); ok {
		t.Fatal("empty context holds a key")
	}
	k := keys.Key{ID: uuid.New(), AccountID: "a"}
	got, ok := keys.FromContext(keys.NewContext(ctx(), k))
	if !ok || got.ID != k.ID {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
}

func TestKeyAndListKeys(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Starter)
	root := f.reissue(t, "acct_1")
	c := f.child(t, "acct_1", keys.ChildOptions{RequestsPerMinute: ptr(5)})
	k, err := f.m.Key(ctx(), c.Key.ID)
	if err != nil || k.Effective != (keys.Limits{RequestsPerMinute: 5, RequestsPerMonth: 100_000}) || k.RootKeyID != root.Key.ID {
		t.Fatalf("Key = %+v, %v", k, err)
	}
	if _, err := f.m.Key(ctx(), uuid.New()); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := f.m.ListKeys(ctx(), "nobody"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("ListKeys unknown: %v", err)
	}
	if _, err := f.m.RootKey(ctx(), "nobody"); !errors.Is(err, keys.ErrAccountNotFound) {
		t.Fatalf("RootKey unknown: %v", err)
	}
}

// After Reissue returns, no child issued before it authenticates, even
// while other goroutines keep authenticating the children.
func TestReissueUnderConcurrentAuthentication(t *testing.T) {
	f := newFixture(t, keys.Config{})
	f.account(t, "acct_1", keys.Quant)
	f.reissue(t, "acct_1")
	var children []string
	for range 8 {
		children = append(children, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
	}
	var stop atomic.Bool
	var wg, warm sync.WaitGroup
	warm.Add(len(children))
	for _, tok := range children {
		wg.Go(func() {
			f.auth(t, tok)
			warm.Done()
			for !stop.Load() {
				_, err := f.m.Authenticate(ctx(), tok)
				if err != nil && !errors.Is(err, keys.ErrRevokedKey) {
					t.Errorf("Authenticate: %v", err)
					return
				}
			}
		})
	}
	warm.Wait()
	f.reissue(t, "acct_1")
	for _, tok := range children {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrRevokedKey) {
			t.Errorf("child after Reissue returned: %v", err)
		}
	}
	stop.Store(true)
	wg.Wait()
}

func TestInspect(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	exp := start.Add(time.Hour)
	c := f.child(t, "acct_1", keys.ChildOptions{Name: "ci", ExpiresAt: &exp})
	k, err := f.m.Inspect(ctx(), c.Secret)
	if err != nil || k.ID != c.Key.ID || k.Name != "ci" {
		t.Fatalf("Inspect = %+v, %v", k, err)
	}
	f.clock.Set(exp)
	if k, err := f.m.Inspect(ctx(), c.Secret); !errors.Is(err, keys.ErrExpiredKey) || k.ID != c.Key.ID {
		t.Fatalf("expired: %v, %v", k.ID, err)
	}
	f.reissue(t, "acct_1")
	if k, err := f.m.Inspect(ctx(), root.Secret); !errors.Is(err, keys.ErrRevokedKey) || k.RevokedAt == nil {
		t.Fatalf("revoked: %+v, %v", k, err)
	}
	if _, err := f.m.Inspect(ctx(), "sk_live_x"); !errors.Is(err, keys.ErrMalformedKey) {
		t.Fatalf("malformed: %v", err)
	}
	if err := f.m.Flush(ctx()); err != nil || cs.lastUsed.Load() != 0 {
		t.Fatalf("Inspect recorded a use (%d writes, %v)", cs.lastUsed.Load(), err)
	}
}
