package sqlitestore_test

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/internal/sqlstore/sqlstoretest"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// TestReopen writes keys, revocations, last-used times and usage, closes
// the file, opens it again and expects every bit back.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	t0 := time.Date(2026, 3, 2, 10, 30, 0, 123456000, time.UTC)
	accounts := []string{"acct_a", "acct_b"}
	month := store.MonthOf(t0)
	for i, a := range accounts {
		must(t, s.CreateAccount(ctx, store.Account{ID: a, Tier: "pro", EmailVerified: i == 0, CreatedAt: t0, UpdatedAt: t0}))
		old := sqlstoretest.NewRoot(a, t0)
		must(t, s.ReplaceRootKey(ctx, old, uuid.Nil, t0))
		for range 3 {
			must(t, s.InsertChildKey(ctx, sqlstoretest.NewChild(old, t0)))
		}
		root := sqlstoretest.NewRoot(a, t0.Add(time.Minute))
		exp, q, r := t0.Add(time.Hour), int64(1000), 7
		root.Name, root.ExpiresAt, root.RequestsPerMonth, root.RequestsPerMinute = "main", &exp, &q, &r
		must(t, s.ReplaceRootKey(ctx, root, uuid.Nil, t0.Add(time.Minute)))
		c := sqlstoretest.NewChild(root, t0.Add(2*time.Minute))
		must(t, s.InsertChildKey(ctx, c))
		kept := sqlstoretest.NewChild(root, t0.Add(2*time.Minute))
		must(t, s.InsertChildKey(ctx, kept))
		_, err := s.RevokeKey(ctx, c.ID, t0.Add(3*time.Minute))
		must(t, err)
		must(t, s.RecordLastUsed(ctx, []store.LastUsed{{KeyID: kept.ID, At: t0.Add(4 * time.Minute)}}))
		_, err = s.AddUsage(ctx, uuid.Nil, []store.UsageDelta{{AccountID: a, KeyID: kept.ID, Month: month, N: 42}})
		must(t, err)
	}
	before := snapshot(t, s, accounts, month)
	must(t, s.Close())

	s, err = sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after := snapshot(t, s, accounts, month)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopening:\n%+v\nwant\n%+v", after, before)
	}
	sqlstoretest.CheckInvariants(t, s, accounts)
}

type accountState struct {
	Account store.Account
	Keys    []store.Key
	Usage   []store.UsageTotal
}

func snapshot(t *testing.T, s store.Store, accounts []string, month store.Month) map[string]accountState {
	t.Helper()
	out := map[string]accountState{}
	for _, a := range accounts {
		acct, err := s.Account(t.Context(), a)
		must(t, err)
		ks, err := s.ListKeys(t.Context(), a)
		must(t, err)
		st := accountState{Account: acct, Keys: ks}
		for _, k := range ks {
			u, err := s.Usage(t.Context(), a, k.ID, month)
			must(t, err)
			st.Usage = append(st.Usage, u)
		}
		out[a] = st
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
