package sqlstoretest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Hash returns a random key hash.
func Hash() store.Hash {
	var h store.Hash
	_, _ = rand.Read(h[:])
	return h
}

// NewRoot returns a root key of account, created at.
func NewRoot(account string, at time.Time) store.Key {
	id := uuid.New()
	return store.Key{ID: id, RootKeyID: id, AccountID: account, Hash: Hash(),
		Prefix: "sk_live_root", IsRoot: true, CreatedAt: at}
}

// NewChild returns a child key of root, created at.
func NewChild(root store.Key, at time.Time) store.Key {
	return store.Key{ID: uuid.New(), RootKeyID: root.ID, AccountID: root.AccountID, Hash: Hash(),
		Prefix: "sk_live_child", CreatedAt: at}
}

// CheckInvariants fails t unless every account has at most one active root
// key and no unrevoked child hangs off a revoked (or missing) root. It
// returns every key it read, by ID.
func CheckInvariants(t testing.TB, s store.Store, accounts []string) map[uuid.UUID]store.Key {
	t.Helper()
	all := make(map[uuid.UUID]store.Key)
	for _, a := range accounts {
		ks, err := s.ListKeys(context.Background(), a)
		if err != nil {
			t.Fatalf("ListKeys(%s): %v", a, err)
		}
		active := map[uuid.UUID]bool{}
		for _, k := range ks {
			all[k.ID] = k
			if k.IsRoot && k.RevokedAt == nil {
				active[k.ID] = true
			}
		}
		if len(active) > 1 {
			t.Errorf("account %s has %d active root keys", a, len(active))
		}
		for _, k := range ks {
			if !k.IsRoot && k.RevokedAt == nil && !active[k.RootKeyID] {
				t.Errorf("account %s: active child %s of inactive root %s", a, k.ID, k.RootKeyID)
			}
		}
		root, err := s.ActiveRootKey(context.Background(), a)
		switch {
		case len(active) == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("account %s: ActiveRootKey = %v, %v with no active root", a, root.ID, err)
		case len(active) == 1 && (err != nil || !active[root.ID]):
			t.Errorf("account %s: ActiveRootKey = %v, %v; want the active root", a, root.ID, err)
		}
	}
	return all
}

// Stress runs workers goroutines for d against stores (round robin; give
// several stores on one database to exercise several pools), each mixing
// ReplaceRootKey, InsertChildKey, RevokeKey, ResolveHash, RecordLastUsed and
// AddUsage over a few accounts. Any error a call may not return fails t.
// At the end it checks the invariants and that no usage count was lost.
func Stress(t *testing.T, stores []store.Store, workers int, d time.Duration) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	accounts := []string{"acct_0", "acct_1", "acct_2"}
	s0 := stores[0]
	for _, a := range accounts {
		if err := s0.CreateAccount(ctx, store.Account{ID: a, Tier: "pro", EmailVerified: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s0.ReplaceRootKey(ctx, NewRoot(a, now), uuid.Nil, now); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu    sync.Mutex
		known []store.Key // every key inserted, for the readers to pick from
		ops   atomic.Int64
		added atomic.Int64 // usage N added to the account counts, in total
	)
	remember := func(k store.Key) {
		mu.Lock()
		known = append(known, k)
		mu.Unlock()
	}
	pick := func(r *mrand.Rand) (store.Key, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(known) == 0 {
			return store.Key{}, false
		}
		return known[r.IntN(len(known))], true
	}
	month := store.MonthOf(now)
	deadline := time.Now().Add(d)

	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) && !t.Failed() {
				if err := stressOp(ctx, s, r, accounts, month, remember, pick, &added); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d operations by %d workers in %v", ops.Load(), workers, d)
	CheckInvariants(t, s0, accounts)
	var total int64
	for _, a := range accounts {
		u, err := s0.Usage(ctx, a, uuid.Nil, month)
		if err != nil {
			t.Fatal(err)
		}
		total += u.Account
	}
	if total != added.Load() {
		t.Errorf("account usage adds up to %d, want %d", total, added.Load())
	}
}

// stressOp does one random operation and returns an error only for an
// outcome the contract does not allow.
func stressOp(ctx context.Context, s store.Store, r *mrand.Rand, accounts []string, month store.Month,
	remember func(store.Key), pick func(*mrand.Rand) (store.Key, bool), added *atomic.Int64) error {
	now := time.Now().UTC()
	account := accounts[r.IntN(len(accounts))]
	switch n := r.IntN(100); {
	case n < 10:
		root := NewRoot(account, now)
		if err := s.ReplaceRootKey(ctx, root, uuid.Nil, now); err != nil {
			return fmt.Errorf("ReplaceRootKey: %w", err)
		}
		remember(root)
	case n < 35:
		root, err := s.ActiveRootKey(ctx, account)
		if errors.Is(err, store.ErrNotFound) {
			return nil // its root was just revoked
		}
		if err != nil {
			return fmt.Errorf("ActiveRootKey: %w", err)
		}
		child := NewChild(root, now)
		err = s.InsertChildKey(ctx, child)
		switch {
		case err == nil:
			remember(child)
		case !errors.Is(err, store.ErrNotFound): // a lost race with a reissue is fine
			return fmt.Errorf("InsertChildKey: %w", err)
		}
	case n < 42:
		if k, ok := pick(r); ok {
			if _, err := s.RevokeKey(ctx, k.ID, now); err != nil {
				return fmt.Errorf("RevokeKey: %w", err)
			}
		}
	case n < 80:
		if k, ok := pick(r); ok {
			res, err := s.ResolveHash(ctx, k.Hash)
			if err != nil {
				return fmt.Errorf("ResolveHash: %w", err)
			}
			if res.Key.ID != k.ID || res.Account.ID != k.AccountID {
				return fmt.Errorf("ResolveHash returned key %s of %s, want %s of %s", res.Key.ID, res.Account.ID, k.ID, k.AccountID)
			}
		}
	case n < 90:
		var batch []store.LastUsed
		for range 1 + r.IntN(8) {
			if k, ok := pick(r); ok {
				batch = append(batch, store.LastUsed{KeyID: k.ID, At: now})
			}
		}
		if err := s.RecordLastUsed(ctx, batch); err != nil {
			return fmt.Errorf("RecordLastUsed: %w", err)
		}
	default:
		var batch []store.UsageDelta
		var sum int64
		for range 1 + r.IntN(8) {
			if k, ok := pick(r); ok {
				d := store.UsageDelta{AccountID: k.AccountID, KeyID: k.ID, Month: month, N: 1 + r.Int64N(5)}
				batch = append(batch, d)
				sum += d.N
			}
		}
		if _, err := s.AddUsage(ctx, uuid.Nil, batch); err != nil {
			return fmt.Errorf("AddUsage: %w", err)
		}
		added.Add(sum)
	}
	return nil
}
