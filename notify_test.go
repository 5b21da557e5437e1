package keys_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// hub is a store.Notifier shared by several stores over one memstore, the
// way pgstore's LISTEN/NOTIFY is shared by several processes.
type hub struct {
	mu    sync.Mutex
	subs  map[int]func(string)
	next  int
	done  sync.WaitGroup
	ready chan struct{} // one value per subscription made
}

type notifyingStore struct {
	store.Store
	hub *hub
}

func (s notifyingStore) Subscribe(ctx context.Context, fn func(string)) error {
	h := s.hub
	h.mu.Lock()
	id := h.next
	h.next++
	h.subs[id] = fn
	h.done.Add(1)
	h.mu.Unlock()
	h.ready <- struct{}{}
	<-ctx.Done()
	h.mu.Lock()
	delete(h.subs, id)
	h.mu.Unlock()
	h.done.Done()
	return ctx.Err()
}

func (s notifyingStore) publish(account string) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for _, fn := range s.hub.subs {
		fn(account)
	}
}

func (s notifyingStore) RevokeKey(ctx context.Context, id uuid.UUID, now time.Time) (store.Key, error) {
	k, err := s.Store.RevokeKey(ctx, id, now)
	if err == nil {
		s.publish(k.AccountID)
	}
	return k, err
}

func TestNotifierInvalidatesOtherManagers(t *testing.T) {
	h := &hub{subs: map[int]func(string){}, ready: make(chan struct{}, 2)}
	base := memstore.New()
	clock := newFakeClock(start)
	cfg := keys.Config{Clock: clock.Now, CacheTTL: time.Hour}
	a := newFixtureOn(t, notifyingStore{base, h}, cfg)
	b := newFixtureOn(t, notifyingStore{base, h}, cfg)
	<-h.ready
	<-h.ready // both managers listen
	a.account(t, "acct_1", keys.Pro)
	a.reissue(t, "acct_1")
	c := a.child(t, "acct_1", keys.ChildOptions{})
	b.auth(t, c.Secret) // cached in b for an hour
	if err := a.m.Revoke(ctx(), c.Key.ID); err != nil {
		t.Fatal(err)
	}
	// No time passes: b learns of the revocation from the notification.
	if _, err := b.m.Authenticate(ctx(), c.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("other manager after a notified revocation: %v", err)
	}
	// A reconnecting store says "anything may have changed" with "".
	c2 := a.child(t, "acct_1", keys.ChildOptions{})
	b.auth(t, c2.Secret)
	if _, err := base.RevokeKey(ctx(), c2.Key.ID, start); err != nil { // behind the hub's back
		t.Fatal(err)
	}
	b.auth(t, c2.Secret) // still cached: nothing said so
	notifyingStore{base, h}.publish("")
	if _, err := b.m.Authenticate(ctx(), c2.Secret); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("after a notification that anything may have changed: %v", err)
	}

	// Close ends the subscriptions.
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Close(); err != nil {
		t.Fatal(err)
	}
	h.done.Wait()
	if len(h.subs) != 0 {
		t.Fatalf("%d subscriptions left after Close", len(h.subs))
	}
}
