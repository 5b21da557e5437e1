package integration

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/store"
)

// TestSQLiteRevocationAcrossManagersAfterTTL documents and checks the
// staleness bound of several processes on one SQLite file. SQLite has no
// change notifications, so a Manager learns of a revocation made by another
// only when its cached copy of the key is older than CacheTTL: until then
// it keeps accepting the key (that is the documented bound, not a bug), and
// from then on it refuses it. Revocation through a Manager takes effect in
// that Manager at once. Both Managers share a fake clock, so no time passes
// but what the test adds.
func TestSQLiteRevocationAcrossManagersAfterTTL(t *testing.T) {
	const ttl = 5 * time.Second
	path := tempDB(t)
	clock := newFakeClock(epoch)
	cfg := keys.Config{Clock: clock.Now, CacheTTL: ttl}
	a := newManager(t, openSQLite(t, path), cfg)
	// B does not follow the store's change feed, so CacheTTL is what bounds
	// its staleness (TestChangeFeedAcrossStores covers the feed).
	b := newManager(t, withoutNotifier{openSQLite(t, path)}, cfg)
	ctx := t.Context()
	if err := a.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	root, err := a.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Revoke", func(t *testing.T) {
		child, err := a.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		loaded := clock.Now()
		mustAuth(t, b, child.Secret, "B, before the revocation") // cached in B from now
		if err := a.Revoke(ctx, child.Key.ID); err != nil {
			t.Fatal(err)
		}
		expectRevoked(t, a, child.Secret, "A, which revoked it")

		// Within CacheTTL of loading it, B still trusts its copy: the
		// staleness bound. (Should B ever learn sooner, say from a change
		// counter in the file, this check is the one to relax.)
		clock.Set(loaded.Add(ttl - time.Millisecond))
		mustAuth(t, b, child.Secret, "B, 1ms before CacheTTL")
		clock.Set(loaded.Add(ttl + time.Millisecond))
		expectRevoked(t, b, child.Secret, "B, once CacheTTL has passed")
		expectRevoked(t, b, child.Secret, "B, again") // no stale copy came back
		// The root was not touched.
		mustAuth(t, b, root.Secret, "B, the root")
		mustAuth(t, a, root.Secret, "A, the root")
	})

	t.Run("Reissue", func(t *testing.T) {
		child, err := a.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		// Past the TTL of B's copy of the root (from the subtest above), so
		// that B reads the root and the child afresh now and caches both
		// from the same instant.
		clock.Add(ttl + time.Second)
		loaded := clock.Now()
		mustAuth(t, b, child.Secret, "B, the child before the reissue")
		mustAuth(t, b, root.Secret, "B, the root before the reissue")
		newRoot, err := a.Reissue(ctx, "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		expectRevoked(t, a, child.Secret, "A, the child after its reissue")
		expectRevoked(t, a, root.Secret, "A, the old root after its reissue")
		mustAuth(t, a, newRoot.Secret, "A, the new root")
		// B has never seen the new root, so it reads it from the store.
		mustAuth(t, b, newRoot.Secret, "B, the new root")

		clock.Set(loaded.Add(ttl - time.Millisecond))
		mustAuth(t, b, child.Secret, "B, the killed child 1ms before CacheTTL")
		mustAuth(t, b, root.Secret, "B, the old root 1ms before CacheTTL")
		clock.Set(loaded.Add(ttl + time.Millisecond))
		expectRevoked(t, b, child.Secret, "B, the killed child once CacheTTL has passed")
		expectRevoked(t, b, root.Secret, "B, the old root once CacheTTL has passed")
		mustAuth(t, b, newRoot.Secret, "B, the new root after CacheTTL")

		// B issues from the new root now, not the old one.
		c, err := b.IssueChild(ctx, "acct_1", keys.ChildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Key.RootKeyID != newRoot.Key.ID {
			t.Fatalf("B issued a child of root %s, want the new root %s", c.Key.RootKeyID, newRoot.Key.ID)
		}
	})
}

func expectRevoked(t *testing.T, m *keys.Manager, token, what string) {
	t.Helper()
	if k, err := m.Authenticate(context.Background(), token); !errors.Is(err, keys.ErrRevokedKey) {
		t.Fatalf("%s: Authenticate = %v, %v; want ErrRevokedKey", what, k, err)
	}
}

// refuseDeadline is how long another Manager on PostgreSQL may take to
// refuse a key revoked through one of them (issue 8) before the test
// fails. It is generous, for a loaded 2-core CI machine, and still proves
// the point: B caches keys for an hour (and the control below shows its
// cache does not expire meanwhile), so only a notification can make it
// refuse within seconds. The latencies are logged; the figure README
// quotes is pgstore's BenchmarkNotifyLatency.
const refuseDeadline = 5 * time.Second

// TestPostgresRevocationReachesOtherManagers runs two Managers on two
// pgstore pools of one schema with a CacheTTL of an hour and the real
// clock, so only LISTEN/NOTIFY (or the "drop everything" a reconnecting
// listener sends) can make one of them refuse a key it has cached.
func TestPostgresRevocationReachesOtherManagers(t *testing.T) {
	schema, dsn := pgFreshSchema(t)
	appA, appB := "keys_it_a_"+schema, "keys_it_b_"+schema // to tell the pools' backends apart
	cfg := keys.Config{CacheTTL: time.Hour}
	a := newManager(t, openPG(t, withParam(t, dsn, "application_name", appA)), cfg)
	b := newManager(t, openPG(t, withParam(t, dsn, "application_name", appB)), cfg)
	admin := pgAdmin(t)
	ctx := t.Context()
	listener := waitListening(t, admin, appB, 0)

	for _, id := range []string{"acct_1", "acct_2"} {
		if err := a.CreateAccount(ctx, keys.Account{ID: id, Tier: keys.Pro, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
	}
	root, err := a.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reissue(ctx, "acct_2"); err != nil {
		t.Fatal(err)
	}
	child := func(account string) keys.Issued {
		t.Helper()
		c, err := a.IssueChild(ctx, account, keys.ChildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The control key of acct_2 (below) is made first: once B has heard
	// of a later change (it refuses c1), it has heard of this key's making
	// too (notifications come in commit order), which drops acct_2's
	// cached keys; so once B caches it, it stays cached.
	silent := child("acct_2")

	// Revoke through A: B refuses the child it had cached.
	c1 := child("acct_1")
	mustAuth(t, b, c1.Secret, "B, the child before its revocation")
	if err := a.Revoke(ctx, c1.Key.ID); err != nil {
		t.Fatal(err)
	}
	lat := waitRefused(t, b, c1.Secret, refuseDeadline)
	t.Logf("Revoke through A: B refused the cached child after %v", lat)

	// Reissue through A: B refuses the old root and the child it had
	// cached, and accepts the new root.
	c2 := child("acct_1")
	mustAuth(t, b, c2.Secret, "B, the child before the reissue")
	mustAuth(t, b, root.Secret, "B, the root before the reissue")
	newRoot, err := a.Reissue(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	lat = waitRefused(t, b, root.Secret, refuseDeadline)
	latChild := waitRefused(t, b, c2.Secret, refuseDeadline)
	t.Logf("Reissue through A: B refused the old root after %v, the cached child %v after the reissue (cumulative)", lat, latChild+lat)
	mustAuth(t, b, newRoot.Secret, "B, the new root")

	// Control: a key revoked behind every Manager's back (plain SQL, no
	// NOTIFY) stays accepted by B, which has it cached for an hour. So the
	// refusals above came from notifications, not from the cache expiring.
	mustAuth(t, b, silent.Secret, "B, the control key before its silent revocation")
	if _, err := admin.ExecContext(ctx, "UPDATE "+schema+".keys_api_keys SET revoked_at = now() WHERE id = $1", silent.Key.ID); err != nil {
		t.Fatal(err)
	}
	expectRevoked(t, a, silent.Secret, "A, which never cached the silently revoked key")
	mustAuth(t, b, silent.Secret, "B, the silently revoked key it has cached (no notification was sent)")

	// Kill B's listening backend and revoke while it is down: that
	// notification is lost, so B must refuse the key once it has
	// reconnected and dropped everything (Subscribe's fn("")).
	c3 := child("acct_1")
	mustAuth(t, b, c3.Secret, "B, the child before the listener dies")
	var terminated bool
	if err := admin.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", listener).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", listener, terminated, err)
	}
	waitGone(t, admin, listener)
	if err := a.Revoke(ctx, c3.Key.ID); err != nil {
		t.Fatal(err)
	}
	lat = waitRefused(t, b, c3.Secret, 10*time.Second)
	newListener := waitListening(t, admin, appB, listener)
	t.Logf("listener backend %d killed; B refused a child revoked meanwhile after %v, listening again on backend %d", listener, lat, newListener)
	// Only the reconnect's "drop everything" explains this refusal.
	expectRevoked(t, b, silent.Secret, "B, the silently revoked key after the listener reconnected")

	// Notifications flow again on the new connection.
	c4 := child("acct_1")
	mustAuth(t, b, c4.Secret, "B, a child after the reconnect")
	if err := a.Revoke(ctx, c4.Key.ID); err != nil {
		t.Fatal(err)
	}
	lat = waitRefused(t, b, c4.Secret, refuseDeadline)
	t.Logf("Revoke through A after the reconnect: B refused the cached child after %v", lat)
}

// waitRefused calls Authenticate on m in a tight loop until it returns
// ErrRevokedKey, and returns how long that took. Anything but success or
// ErrRevokedKey, or no refusal within deadline, fails t.
func waitRefused(t *testing.T, m *keys.Manager, token string, deadline time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := m.Authenticate(context.Background(), token)
		elapsed := time.Since(start)
		switch {
		case errors.Is(err, keys.ErrRevokedKey):
			return elapsed
		case err != nil:
			t.Fatalf("Authenticate while waiting for a refusal: %v", err)
		case elapsed > deadline:
			t.Fatalf("the key still authenticates %v after its revocation", elapsed)
		}
		runtime.Gosched()
	}
}

// waitListening waits up to 5s until one backend of the pool named app is
// idle after a LISTEN, and returns its pid, which must not be old.
func waitListening(t *testing.T, admin *sql.DB, app string, old int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pids []int
		rows, err := admin.QueryContext(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1
			  AND state = 'idle' AND query ILIKE 'LISTEN %'`, app)
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
		switch {
		case len(pids) > 1:
			t.Fatalf("%d listening backends for %s, want 1: %v", len(pids), app, pids)
		case len(pids) == 1 && pids[0] == old:
			t.Fatalf("backend %d still listens for %s after it was terminated", old, app)
		case len(pids) == 1:
			return pids[0]
		case time.Now().After(deadline):
			t.Fatalf("no backend of %s listening within 5s", app)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGone waits up to 5s until the backend pid has exited.
func waitGone(t *testing.T, admin *sql.DB, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still there 5s after pg_terminate_backend", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// withoutNotifier hides a store's store.Notifier, as a store that has none
// would be.
type withoutNotifier struct{ store.Store }
