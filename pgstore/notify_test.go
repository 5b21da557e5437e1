package pgstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/keyward/keys/pgstore"
	"github.com/keyward/keys/store"
)

// deliveryBound is how soon after a commit another process must hear of it.
const deliveryBound = 100 * time.Millisecond

// subscribe runs s.Subscribe until t ends, forwarding account IDs to the
// returned channel, and waits until it listens (its first "").
func subscribe(t *testing.T, s *pgstore.Store) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 64)
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, func(id string) { got <- id }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, pgstore.ErrClosed) {
				t.Errorf("Subscribe returned %v, want context.Canceled or ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Subscribe did not return after its context was cancelled")
		}
	})
	expect(t, got, "", 5*time.Second)
	return got
}

// expect waits up to within for want on got, failing on anything else.
func expect(t *testing.T, got <-chan string, want string, within time.Duration) {
	t.Helper()
	select {
	case id := <-got:
		if id != want {
			t.Fatalf("notified %q, want %q", id, want)
		}
	case <-time.After(within):
		t.Fatalf("no notification %q within %v", want, within)
	}
}

// expectNone checks that nothing arrives for a while.
func expectNone(t *testing.T, got <-chan string) {
	t.Helper()
	select {
	case id := <-got:
		t.Fatalf("unexpected notification %q", id)
	case <-time.After(3 * deliveryBound):
	}
}

func randomHash(t *testing.T) store.Hash {
	var h store.Hash
	_, _ = rand.Read(h[:])
	return h
}

func rootKey(t *testing.T, account string) store.Key {
	id := uuid.New()
	return store.Key{ID: id, RootKeyID: id, AccountID: account, Hash: randomHash(t),
		Prefix: "sk_live_root", IsRoot: true, CreatedAt: time.Now()}
}

// timed runs change and checks that its account's notification reaches got
// within deliveryBound of change returning.
func timed(t *testing.T, got <-chan string, account string, change func() error) {
	t.Helper()
	if err := change(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expect(t, got, account, deliveryBound)
	t.Logf("notified in %v", time.Since(start))
}

func TestSubscribeAcrossStores(t *testing.T) {
	dsn := freshDSN(t)
	writer, listener := openStore(t, dsn), openStore(t, dsn)
	got := subscribe(t, listener)
	ctx, now := t.Context(), time.Now()

	if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	expectNone(t, got) // a new account has nothing cached

	root := rootKey(t, "acct_1")
	timed(t, got, "acct_1", func() error { return writer.ReplaceRootKey(ctx, root, uuid.Nil, now) })
	timed(t, got, "acct_1", func() error {
		tier := "quant"
		return writer.UpdateAccount(ctx, "acct_1", store.AccountUpdate{Tier: &tier, UpdatedAt: now})
	})
	timed(t, got, "acct_1", func() error { _, err := writer.RevokeKey(ctx, root.ID, now); return err })

	// Nothing is sent for a change that did not happen: a rolled-back
	// ReplaceRootKey, or revoking a key that is already revoked.
	dup := rootKey(t, "acct_1")
	dup.Hash = root.Hash
	if err := writer.ReplaceRootKey(ctx, dup, uuid.Nil, now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ReplaceRootKey with a taken hash: %v", err)
	}
	if _, err := writer.RevokeKey(ctx, root.ID, now); err != nil {
		t.Fatal(err)
	}
	expectNone(t, got)
}

func TestSubscribeReconnects(t *testing.T) {
	dsn := freshDSN(t)
	writer, listener := openStore(t, dsn), openStore(t, dsn)
	got := subscribe(t, listener)
	ctx, now := t.Context(), time.Now()
	if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	admin, err := sql.Open("pgx", baseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	listenQuery := "LISTEN " + pgx.Identifier{listener.Channel()}.Sanitize()
	for drop := range 3 {
		var killed int
		err := admin.QueryRowContext(ctx,
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
			listenQuery).Scan(&killed)
		if err != nil || killed != 1 {
			t.Fatalf("drop %d: terminated %d listening backends (%v), want 1", drop, killed, err)
		}
		// Reconnected: the store says so with "", and then hears again.
		expect(t, got, "", 5*time.Second)
		timed(t, got, "acct_1", func() error { return writer.ReplaceRootKey(ctx, rootKey(t, "acct_1"), uuid.Nil, now) })
	}
}

func TestSubscribeChecksIdleConnection(t *testing.T) {
	dsn := freshDSN(t)
	writer, listener := openStore(t, dsn), openStore(t, dsn)
	listener.SetPingEvery(50 * time.Millisecond)
	got := subscribe(t, listener)
	// Several quiet periods pass, each ending in a ping, without a
	// reconnect (which would say "").
	expectNone(t, got)
	ctx, now := t.Context(), time.Now()
	timed(t, got, "acct_1", func() error {
		if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return writer.ReplaceRootKey(ctx, rootKey(t, "acct_1"), uuid.Nil, now)
	})
}

// TestCloseStopsSubscribe checks that Close ends a running Subscribe (which
// holds a connection) instead of waiting for it forever.
func TestCloseStopsSubscribe(t *testing.T) {
	s, err := pgstore.Open(t.Context(), freshDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(context.Background(), func(string) {
			select {
			case listening <- struct{}{}:
			default:
			}
		})
	}()
	<-listening
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while Subscribe ran")
	}
	if err := <-done; !errors.Is(err, pgstore.ErrClosed) {
		t.Fatalf("Subscribe returned %v, want ErrClosed", err)
	}
	if err := s.Subscribe(context.Background(), func(string) {}); !errors.Is(err, pgstore.ErrClosed) {
		t.Fatalf("Subscribe after Close returned %v, want ErrClosed", err)
	}
}
