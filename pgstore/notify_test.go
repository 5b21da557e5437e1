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

// deliveryDeadline is how long these tests wait for a notification before
// failing. They check that a change is delivered, not how fast: on a
// loaded 2-core CI machine a delivery can take far longer than its usual
// few milliseconds, so the bound is generous and timed logs the latency
// measured. BenchmarkNotifyLatency measures the figure README quotes.
const deliveryDeadline = 5 * time.Second

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

// expectNone checks that nothing was notified since the last notification
// got delivered, without waiting out a quiet period (which would prove
// nothing on a slow machine): it replaces the root key of sentinel, an
// account with no other change pending, and expects sentinel to be the
// next notification. PostgreSQL delivers notifications in the order their
// transactions committed, so one sent by an earlier change would arrive
// first.
func expectNone(t *testing.T, got <-chan string, writer *pgstore.Store, sentinel string) {
	t.Helper()
	now := time.Now()
	if err := writer.ReplaceRootKey(t.Context(), rootKey(t, sentinel), uuid.Nil, now); err != nil {
		t.Fatal(err)
	}
	expect(t, got, sentinel, deliveryDeadline)
}

// createSentinel creates the account expectNone changes.
func createSentinel(t *testing.T, writer *pgstore.Store, sentinel string) {
	t.Helper()
	now := time.Now()
	if err := writer.CreateAccount(t.Context(), store.Account{ID: sentinel, Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
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

// timed runs change and checks that its account's notification is the
// next to reach got (within deliveryDeadline), logging how long after
// change returned it came.
func timed(t *testing.T, got <-chan string, account string, change func() error) {
	t.Helper()
	if err := change(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expect(t, got, account, deliveryDeadline)
	t.Logf("notified in %v", time.Since(start))
}

func TestSubscribeAcrossStores(t *testing.T) {
	dsn := freshDSN(t)
	writer, listener := openStore(t, dsn), openStore(t, dsn)
	got := subscribe(t, listener)
	ctx, now := t.Context(), time.Now()
	createSentinel(t, writer, "acct_sentinel")

	if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	expectNone(t, got, writer, "acct_sentinel") // a new account has nothing cached

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
	expectNone(t, got, writer, "acct_sentinel")
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
	killed := 0
	for drop := range 3 {
		if killed != 0 {
			// pg_terminate_backend only signals: the backend killed last
			// time may linger in pg_stat_activity, still showing its
			// LISTEN, for a while after the store has reconnected.
			waitGone(t, admin, killed)
		}
		var pids []int
		rows, err := admin.QueryContext(ctx,
			"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1", listenQuery)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		// One listening backend: a connection that failed is discarded,
		// never returned to the pool still listening.
		if len(pids) != 1 {
			t.Fatalf("drop %d: listening backends %v, want 1", drop, pids)
		}
		var terminated bool
		if err := admin.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pids[0]).Scan(&terminated); err != nil || !terminated {
			t.Fatalf("drop %d: pg_terminate_backend(%d) = %v, %v", drop, pids[0], terminated, err)
		}
		killed = pids[0]
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
	// Several quiet periods pass, each ending in a ping (Subscribe's timer
	// runs on the real clock, so real time must pass). A reconnect would
	// say "" before the notification below.
	time.Sleep(6 * 50 * time.Millisecond)
	ctx, now := t.Context(), time.Now()
	timed(t, got, "acct_1", func() error {
		if err := writer.CreateAccount(ctx, store.Account{ID: "acct_1", Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return writer.ReplaceRootKey(ctx, rootKey(t, "acct_1"), uuid.Nil, now)
	})
}

// waitGone waits until the backend pid has left pg_stat_activity, failing
// t after deliveryDeadline.
func waitGone(t *testing.T, admin *sql.DB, pid int) {
	t.Helper()
	deadline := time.Now().Add(deliveryDeadline)
	for {
		var n int
		if err := admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still there %v after pg_terminate_backend", pid, deliveryDeadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
