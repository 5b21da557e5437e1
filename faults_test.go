package keys_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
)

// Every store method the Manager calls gets a deadline no later than
// StoreTimeout, and with the store hung every operation returns
// context.DeadlineExceeded after StoreTimeout per store call it makes, not
// never. Time is synctest's, so the hangs cost no real time.
func TestStoreTimeoutBoundsEveryCall(t *testing.T) {
	if n := reflect.TypeFor[store.Store]().NumMethod() + optionalMethods; n != len(storeMethods) {
		t.Fatalf("store.Store and its optional capabilities have %d methods, hangStore covers %d: give each new method a case in hangStore "+
			"(and storeMethods) and call it below, so its deadline is checked", n, len(storeMethods))
	}
	synctest.Test(t, func(t *testing.T) {
		const timeout = 2 * time.Second
		st := newHangStore(memstore.New())
		// No periodic flush: the test's own Flush must find work to do. A
		// hook, for the scan of expiring keys it brings.
		m, err := keys.New(st, keys.Config{StoreTimeout: timeout, FlushInterval: time.Hour, OnEvent: func(keys.Event) {}})
		if err != nil {
			t.Fatal(err)
		}
		// A workout that reaches every store method, healthy.
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}))
		must(m.SetTier(ctx(), "acct_1", keys.Pro))
		root, err := m.Reissue(ctx(), "acct_1")
		must(err)
		child, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		must(err)
		rk, err := m.Authenticate(ctx(), root.Secret)
		must(err)
		_, err = m.Allow(ctx(), rk)
		must(err)
		_, err = m.ListKeys(ctx(), "acct_1")
		must(err)
		_, err = m.Key(ctx(), child.Key.ID)
		must(err)
		_, err = m.RootKey(ctx(), "acct_1")
		must(err)
		must(m.Flush(ctx()))
		must(m.Revoke(ctx(), child.Key.ID))
		_, _, err = m.ListKeysPage(ctx(), "acct_1", keys.Page{})
		must(err)
		_, err = m.PruneRevoked(ctx(), time.Hour)
		must(err)
		_, err = m.ListAccounts(ctx(), "", 10)
		must(err)
		leaked, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		must(err)
		_, err = m.RevokeLeaked(ctx(), []string{leaked.Secret})
		must(err)
		_, err = m.Usage(ctx(), "acct_1", time.Time{})
		must(err)
		renamed, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		must(err)
		_, err = m.UpdateKey(ctx(), "acct_1", renamed.Key.ID, keys.KeyUpdate{Name: keys.To("renamed")})
		must(err)
		must(m.CreateAccount(ctx(), keys.Account{ID: "acct_gone", Tier: keys.Free}))
		must(m.DeleteAccount(ctx(), "acct_gone"))
		_, _, err = m.AuditEvents(ctx(), "acct_1", keys.Page{})
		must(err)
		_, err = m.PruneAuditEvents(ctx(), 24*time.Hour)
		must(err)
		must(keys.ScanStoreExpiring(m))
		st.mu.Lock()
		for _, name := range storeMethods {
			// ReplaceRootKey stays in the contract for stores' other
			// callers; the Manager rotates through RotateRootKey.
			if st.calls[name] == 0 && name != "ReplaceRootKey" {
				t.Errorf("the workout never called %s", name)
			}
			if st.noDL[name] != 0 {
				t.Errorf("%s was called %d times without a deadline", name, st.noDL[name])
			}
		}
		if st.longest > timeout {
			t.Errorf("a deadline %v away, want at most StoreTimeout %v", st.longest, timeout)
		}
		st.mu.Unlock()

		// Keys to use once the store hangs: a token never resolved here,
		// and a key resolved whose limit state is not loaded yet.
		cold, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		must(err)
		warmIss, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		must(err)
		warm, err := m.Authenticate(ctx(), warmIss.Secret)
		must(err)

		st.setHang(true)
		ops := []struct {
			name  string
			calls int // store calls made before giving up
			do    func() error
		}{
			{"CreateAccount", 1, func() error { return m.CreateAccount(ctx(), keys.Account{ID: "acct_2"}) }},
			{"Account", 1, func() error { _, err := m.Account(ctx(), "acct_1"); return err }},
			{"SetTier", 1, func() error { return m.SetTier(ctx(), "acct_1", keys.Free) }},
			{"SetEmailVerified", 1, func() error { return m.SetEmailVerified(ctx(), "acct_1", true) }},
			{"Reissue", 1, func() error { _, err := m.Reissue(ctx(), "acct_1"); return err }},
			{"IssueChild", 1, func() error { _, err := m.IssueChild(ctx(), "acct_1", keys.ChildOptions{}); return err }},
			{"Authenticate", 1, func() error { _, err := m.Authenticate(ctx(), cold.Secret); return err }},
			{"Inspect", 1, func() error { _, err := m.Inspect(ctx(), cold.Secret); return err }},
			{"RootKey", 1, func() error { _, err := m.RootKey(ctx(), "acct_1"); return err }},
			{"Key", 1, func() error { _, err := m.Key(ctx(), cold.Key.ID); return err }},
			{"ListKeys", 1, func() error { _, err := m.ListKeys(ctx(), "acct_1"); return err }},
			{"AuditEvents", 1, func() error { _, _, err := m.AuditEvents(ctx(), "acct_1", keys.Page{}); return err }},
			{"PruneAuditEvents", 1, func() error { _, err := m.PruneAuditEvents(ctx(), time.Hour); return err }},
			{"Revoke", 1, func() error { return m.Revoke(ctx(), cold.Key.ID) }},
			{"Allow", 1, func() error { _, err := m.Allow(ctx(), warm); return err }},
			{"AllowAccountRate", 1, func() error { _, err := m.AllowAccountRate(ctx(), "acct_1"); return err }},
			{"Flush", 2, func() error { return m.Flush(ctx()) }},
			{"ScanStoreExpiring", 1, func() error { return keys.ScanStoreExpiring(m) }},
		}
		for _, op := range ops {
			begin := time.Now()
			err := op.do()
			took := time.Since(begin)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a hung store: %v, want context.DeadlineExceeded", op.name, err)
			}
			if max := time.Duration(op.calls) * timeout; took > max {
				t.Errorf("%s on a hung store took %v, want at most %v", op.name, took, max)
			}
		}
		// Close too is bounded: it makes at most two calls.
		begin := time.Now()
		err = m.Close()
		if took := time.Since(begin); took > 2*timeout {
			t.Errorf("Close on a hung store took %v", took)
		}
		var fe *keys.FlushError
		if !errors.As(err, &fe) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close on a hung store: %v, want a *FlushError of a deadline", err)
		}
	})
}

// usedManager returns a Manager whose store will hang or fail on demand,
// with two keys of one account used: the root 3 times, the child twice,
// both authenticated, nothing flushed yet (FlushInterval is a minute).
func usedManager(t *testing.T, cfg keys.Config) (*keys.Manager, *hangStore, *syncBuf, [2]uuid.UUID) {
	t.Helper()
	st := newHangStore(memstore.New())
	logs := &syncBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Minute
	}
	m, err := keys.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	var ids [2]uuid.UUID
	for i, uses := range []int{3, 2} {
		var iss keys.Issued
		if i == 0 {
			iss, err = m.Reissue(ctx(), "acct_1")
		} else {
			iss, err = m.IssueChild(ctx(), "acct_1", keys.ChildOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = iss.Key.ID
		k, err := m.Authenticate(ctx(), iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for range uses {
			if _, err := m.Allow(ctx(), k); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m, st, logs, ids
}

// A SIGTERM while PostgreSQL is frozen: Shutdown returns at its deadline,
// not never, and says (in its error and its log) exactly what the exit
// will lose. Flush can still write it once the store is back.
func TestShutdownWithHungStoreReportsWhatIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, st, logs, ids := usedManager(t, keys.Config{StoreTimeout: time.Hour, FlushInterval: time.Second})
		st.setHang(true, "RecordLastUsed", "AddUsage")
		time.Sleep(1500 * time.Millisecond) // a periodic flush is now stuck
		synctest.Wait()
		if st.blocked() != 1 {
			t.Fatalf("%d store calls blocked, want the periodic flush's", st.blocked())
		}
		sctx, cancel := context.WithTimeout(ctx(), 3*time.Second)
		defer cancel()
		begin := time.Now()
		err := m.Shutdown(sctx)
		if took := time.Since(begin); took != 3*time.Second {
			t.Errorf("Shutdown took %v, want its deadline, 3s", took)
		}
		var fe *keys.FlushError
		if !errors.As(err, &fe) {
			t.Fatalf("Shutdown: %v, want a *FlushError", err)
		}
		if fe.UsageCounts != 2 || fe.Requests != 5 || fe.LastUsed != 2 {
			t.Errorf("FlushError %+v, want 2 usage counts, 5 requests, 2 last-used times", fe)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown error %v does not wrap the deadline", err)
		}
		if log := logs.String(); !strings.Contains(log, "usage_counts=2 requests=5 last_used_times=2") {
			t.Errorf("the log does not state what is lost:\n%s", log)
		}
		if err := m.Close(); err != fe {
			t.Errorf("Close after Shutdown: %v, want Shutdown's result", err)
		}
		// The store comes back: nothing was dropped, a Flush writes it all.
		st.setHang(false)
		if err := m.Flush(ctx()); err != nil {
			t.Fatalf("Flush after the store came back: %v", err)
		}
		for i, want := range []int64{3, 2} {
			u, err := st.Store.Usage(ctx(), "acct_1", ids[i], store.MonthOf(time.Now()))
			if err != nil || u.Key != want || u.Account != 5 {
				t.Errorf("stored usage of key %d: %+v, %v; want %d of 5", i, u, err, want)
			}
			k, err := st.Store.Key(ctx(), ids[i])
			if err != nil || k.LastUsedAt == nil {
				t.Errorf("key %d has no last-used time: %v", i, err)
			}
		}
	})
}

// A store that is down (refusing connections) fails the final flush at
// once, with the same report.
func TestShutdownWithStoreDownReportsWhatIsLost(t *testing.T) {
	m, st, logs, _ := usedManager(t, keys.Config{})
	st.setFail(true)
	err := m.Shutdown(ctx())
	var fe *keys.FlushError
	if !errors.As(err, &fe) || !errors.Is(err, errDown) {
		t.Fatalf("Shutdown: %v, want a *FlushError wrapping the store's error", err)
	}
	if fe.UsageCounts != 2 || fe.Requests != 5 || fe.LastUsed != 2 {
		t.Errorf("FlushError %+v, want 2 usage counts, 5 requests, 2 last-used times", fe)
	}
	if !strings.Contains(logs.String(), "usage_counts=2 requests=5 last_used_times=2") {
		t.Errorf("the log does not state what is lost:\n%s", logs)
	}
	if _, err := m.Authenticate(ctx(), "sk_live_x"); !errors.Is(err, keys.ErrMalformedKey) {
		t.Errorf("Authenticate after Shutdown: %v", err)
	}
	if _, err := m.Account(ctx(), "acct_1"); !errors.Is(err, keys.ErrClosed) {
		t.Errorf("Account after Shutdown: %v, want ErrClosed", err)
	}
}

// A healthy Shutdown writes everything and returns nil.
func TestShutdownFlushes(t *testing.T) {
	m, st, _, ids := usedManager(t, keys.Config{})
	if err := m.Shutdown(ctx()); err != nil {
		t.Fatal(err)
	}
	u, err := st.Store.Usage(ctx(), "acct_1", ids[0], store.MonthOf(time.Now()))
	if err != nil || u.Account != 5 {
		t.Fatalf("stored usage %+v, %v; want 5", u, err)
	}
}

// The periodic flush and the periodic sweep run apart: with a flush stuck
// in a hung store, idle limit state and stale cache entries are still
// dropped and the clock still follows the wall clock.
func TestSweepRunsWhileFlushIsStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newHangStore(memstore.New())
		m, err := keys.New(st, keys.Config{StoreTimeout: time.Hour, FlushInterval: time.Second, CacheTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.CreateAccount(ctx(), keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		iss, err := m.Reissue(ctx(), "acct_1")
		if err != nil {
			t.Fatal(err)
		}
		st.setHang(true, "RecordLastUsed", "AddUsage")
		k, err := m.Authenticate(ctx(), iss.Secret)
		if err != nil {
			t.Fatal(err)
		}
		// Rate only: limit state with nothing pending, free to be swept.
		if _, err := m.AllowRate(ctx(), k); err != nil {
			t.Fatal(err)
		}
		if keys.CacheLen(m) != 1 || keys.QuotaLen(m) != 1 {
			t.Fatalf("cache %d, limit state %d; want 1 each", keys.CacheLen(m), keys.QuotaLen(m))
		}
		keys.SkewWall(m, time.Hour)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st.blocked() != 1 {
			t.Fatalf("%d store calls blocked, want the periodic flush's", st.blocked())
		}
		if n := keys.CacheLen(m); n != 0 {
			t.Errorf("%d cache entries past their TTL kept while the flush is stuck", n)
		}
		if n := keys.QuotaLen(m); n != 0 {
			t.Errorf("%d idle limit states kept while the flush is stuck", n)
		}
		if off := keys.WallNow(m).Sub(time.Now()); off < 59*time.Minute || off > 61*time.Minute {
			t.Errorf("wall time is %v off time.Now, want the 1h step picked up by a re-anchor", off)
		}
	})
}
