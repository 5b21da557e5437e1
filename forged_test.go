package keys_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// TestForgedTokensCostAtMostTheBudget: 10,000 distinct well-formed forged
// tokens reach the store at most LookupRate times a second; the rest are
// ErrBusy, never a pass, and a tagged key made by another Manager on the
// same store authenticates at once in the middle of the flood.
func TestForgedTokensCostAtMostTheBudget(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{})
	other := newFixtureOn(t, cs, keys.Config{}) // the CLI, say
	other.account(t, "acct_1", keys.Pro)
	other.reissue(t, "acct_1")
	before := cs.resolves.Load()
	var unknown, busy int
	flood := func(n int) {
		for range n {
			_, err := f.m.Authenticate(ctx(), keys.ForgeToken(f.m))
			switch {
			case errors.Is(err, keys.ErrUnknownKey):
				unknown++
			case errors.Is(err, keys.ErrBusy):
				busy++
			default:
				t.Fatalf("forged token: %v", err)
			}
		}
	}
	flood(5000)
	c := other.child(t, "acct_1", keys.ChildOptions{})
	f.auth(t, c.Secret) // made elsewhere, tagged: no budget needed
	flood(5000)
	reads := cs.resolves.Load() - before - 1
	if reads > keys.DefaultLookupRate || unknown != int(reads) || busy != 10000-int(reads) {
		t.Fatalf("10,000 forged tokens: %d store reads (want ≤ %d), %d unknown, %d busy",
			reads, keys.DefaultLookupRate, unknown, busy)
	}
	if got := f.m.LookupStats().Refused; got != int64(busy) {
		t.Fatalf("LookupStats().Refused = %d, want %d", got, busy)
	}
	// A second later the budget has refilled, by LookupRate.
	f.clock.Add(time.Second)
	before = cs.resolves.Load()
	flood(1000)
	if reads := cs.resolves.Load() - before; reads != keys.DefaultLookupRate {
		t.Fatalf("a second later: %d store reads, want %d", reads, keys.DefaultLookupRate)
	}
}

// TestUntaggedKeyIsBusyNotUnknown: a key made before tags (or by anyone
// without the tag key) is never refused as unknown by the defence: past
// the budget it is ErrBusy, and it authenticates once the budget allows.
func TestUntaggedKeyIsBusyNotUnknown(t *testing.T) {
	st := memstore.New()
	old := newFixtureOn(t, st, keys.Config{})
	keys.WithoutTags(old.m)
	old.account(t, "acct_1", keys.Pro)
	root := old.reissue(t, "acct_1")
	f := newFixtureOn(t, st, keys.Config{LookupRate: 3})
	for range 3 {
		f.m.Authenticate(ctx(), keys.ForgeToken(f.m))
	}
	if _, err := f.m.Authenticate(ctx(), root.Secret); !errors.Is(err, keys.ErrBusy) {
		t.Fatalf("untagged key past the budget: %v, want ErrBusy", err)
	}
	f.clock.Add(time.Second)
	f.auth(t, root.Secret)
	// Once resolved, its reloads are vouched for: stale, not absent.
	f.clock.Add(keys.DefaultCacheTTL)
	for range 3 {
		f.m.Authenticate(ctx(), keys.ForgeToken(f.m))
	}
	f.auth(t, root.Secret)
}

// TestRepeatedForgedTokenReadsOnce: the negative cache answers a repeated
// unknown token from memory until it expires.
func TestRepeatedForgedTokenReadsOnce(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	f := newFixtureOn(t, cs, keys.Config{LookupRate: -1})
	tok := keys.ForgeToken(f.m)
	for range 1000 {
		if _, err := f.m.Authenticate(ctx(), tok); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if n := cs.resolves.Load(); n != 1 {
		t.Fatalf("1,000 presentations of one forged token: %d store reads, want 1", n)
	}
	f.clock.Add(3 * time.Second)
	f.m.Authenticate(ctx(), tok)
	if n := cs.resolves.Load(); n != 2 {
		t.Fatalf("after the negative TTL: %d store reads, want 2", n)
	}
}

// hidingStore answers ErrNotFound for every hash while hide is set, as a
// store does for a key not yet made.
type hidingStore struct {
	store.Store
	hide atomic.Bool
}

func (s *hidingStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	if s.hide.Load() {
		return store.Resolved{}, store.ErrNotFound
	}
	return s.Store.ResolveHash(ctx, h)
}

// TestNotificationDropsNegativeCache: an unknown token remembered as such
// is asked again after any store notification (a key may have been made).
func TestNotificationDropsNegativeCache(t *testing.T) {
	h := &hub{subs: map[int]func(string){}, ready: make(chan struct{}, 2)}
	base := memstore.New()
	hs := &hidingStore{Store: base}
	cfg := keys.Config{CacheTTL: time.Hour}
	a := newFixtureOn(t, notifyingStore{base, h}, cfg)
	b := newFixtureOn(t, notifyingStore{hs, h}, cfg)
	<-h.ready
	<-h.ready
	a.account(t, "acct_1", keys.Pro)
	root := a.reissue(t, "acct_1")
	hs.hide.Store(true)
	if _, err := b.m.Authenticate(ctx(), root.Secret); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("hidden key: %v", err)
	}
	hs.hide.Store(false)
	if _, err := b.m.Authenticate(ctx(), root.Secret); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("remembered unknown key: %v, want ErrUnknownKey from memory", err)
	}
	notifyingStore{base, h}.publish("acct_other") // any change at all
	b.auth(t, root.Secret)
}

// blockingStore holds every ResolveHash until release is closed.
type blockingStore struct {
	store.Store
	reads   atomic.Int64
	release chan struct{}
}

func (s *blockingStore) ResolveHash(ctx context.Context, h store.Hash) (store.Resolved, error) {
	s.reads.Add(1)
	<-s.release
	return s.Store.ResolveHash(ctx, h)
}

// TestConcurrentMissesShareOneRead: many requests presenting one uncached
// token at once make one store read, and all get its answer.
func TestConcurrentMissesShareOneRead(t *testing.T) {
	bs := &blockingStore{Store: memstore.New(), release: make(chan struct{})}
	f := newFixtureOn(t, bs, keys.Config{})
	close(bs.release)
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	g := newFixtureOn(t, bs, keys.Config{}) // nothing cached
	bs.release = make(chan struct{})
	bs.reads.Store(0)
	const n = 64
	var wg, started sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	for range n {
		wg.Go(func() {
			started.Done()
			_, err := g.m.Authenticate(ctx(), root.Secret)
			errs <- err
		})
	}
	started.Wait()
	for bs.reads.Load() == 0 {
		runtime.Gosched()
	}
	for range 10000 {
		runtime.Gosched() // let the others reach the shared read
	}
	close(bs.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a shared miss: %v", err)
		}
	}
	if r := bs.reads.Load(); r != 1 {
		t.Fatalf("%d concurrent misses of one key: %d store reads, want 1", n, r)
	}
}

// TestSharedMissKeepsOwnContext: a caller that gives up does not fail the
// others waiting on the same read, and gets its own ctx's error.
func TestSharedMissKeepsOwnContext(t *testing.T) {
	bs := &blockingStore{Store: memstore.New(), release: make(chan struct{})}
	close(bs.release)
	f := newFixtureOn(t, bs, keys.Config{})
	f.account(t, "acct_1", keys.Pro)
	root := f.reissue(t, "acct_1")
	g := newFixtureOn(t, bs, keys.Config{})
	bs.release = make(chan struct{})
	bs.reads.Store(0)
	cctx, cancel := context.WithCancel(ctx())
	done := make(chan error, 1)
	go func() {
		_, err := g.m.Authenticate(cctx, root.Secret)
		done <- err
	}()
	for bs.reads.Load() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	other := make(chan error, 1)
	go func() {
		_, err := g.m.Authenticate(ctx(), root.Secret)
		other <- err
	}()
	close(bs.release)
	if err := <-other; err != nil {
		t.Fatalf("the other waiter: %v", err)
	}
}
