package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// lostUsageReplyStore commits AddUsage and then, while lose is set, reports a
// failure, as a connection lost after the commit would.
type lostUsageReplyStore struct {
	store.Store
	lose  atomic.Bool
	calls atomic.Int64
}

func (s *lostUsageReplyStore) AddUsage(ctx context.Context, id uuid.UUID, b []store.UsageDelta) ([]store.UsageTotal, error) {
	s.calls.Add(1)
	totals, err := s.Store.AddUsage(ctx, id, b)
	if err == nil && s.lose.Load() {
		return nil, errors.New("connection reset after commit")
	}
	return totals, err
}

// TestUsageCountedOnceAcrossALostReply: a flush that committed but whose
// reply was lost is retried, and the store counts it once.
func TestUsageCountedOnceAcrossALostReply(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store.Store{
		"memstore": func(*testing.T) store.Store { return memstore.New() },
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := &lostUsageReplyStore{Store: open(t)}
			f := newFixtureOn(t, st, keys.Config{FlushInterval: time.Hour})
			f.account(t, "acct_1", keys.Quant)
			k := f.auth(t, f.reissue(t, "acct_1").Secret)
			c := f.auth(t, f.child(t, "acct_1", keys.ChildOptions{}).Secret)
			for range 5 {
				mustAllow(t, f, k)
			}
			mustAllow(t, f, c)
			st.lose.Store(true)
			if err := f.m.Flush(ctx()); err == nil {
				t.Fatal("a flush whose reply was lost succeeded")
			}
			// Two more flushes lose their replies too: the same batch each time.
			mustAllow(t, f, k)
			for range 2 {
				if err := f.m.Flush(ctx()); err == nil {
					t.Fatal("a flush whose reply was lost succeeded")
				}
			}
			if n := keys.RetryLen(f.m); n != 2 {
				t.Fatalf("%d counts in the unsure batch, want its 2", n)
			}
			st.lose.Store(false)
			mustAllow(t, f, k)
			if err := f.m.Flush(ctx()); err != nil {
				t.Fatal(err)
			}
			u, err := st.Usage(ctx(), "acct_1", k.ID, store.MonthOf(start))
			if err != nil || u != (store.UsageTotal{Key: 7, Account: 8}) {
				t.Fatalf("stored usage = %+v, %v; want the 7 and 8 admitted, each once", u, err)
			}
			if n := keys.RetryLen(f.m); n != 0 {
				t.Fatalf("%d counts still waiting", n)
			}
			// The Manager's own view agrees with the store's.
			d := mustAllow(t, f, k)
			if want := keys.DefaultTiers()[keys.Quant].RequestsPerMonth - 9; d.Quota.Remaining != want {
				t.Fatalf("quota remaining %d, want %d", d.Quota.Remaining, want)
			}
		})
	}
}
