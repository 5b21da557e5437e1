package pgstore_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// TestRevokeLeakedNotifies checks that a leak report that changes two
// accounts tells other processes about both, and a repeated one about
// neither.
func TestRevokeLeakedNotifies(t *testing.T) {
	dsn := freshDSN(t)
	writer, listener := openStore(t, dsn), openStore(t, dsn)
	got := subscribe(t, listener)
	ctx, now := t.Context(), time.Now()
	createSentinel(t, writer, "acct_sentinel")
	var roots []store.Key
	for _, a := range []string{"acct_1", "acct_2"} {
		if err := writer.CreateAccount(ctx, store.Account{ID: a, Tier: "pro", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		r := rootKey(t, a)
		if err := writer.ReplaceRootKey(ctx, r, uuid.Nil, now); err != nil {
			t.Fatal(err)
		}
		expect(t, got, a, 5*time.Second)
		roots = append(roots, r)
	}
	child := store.Key{ID: uuid.New(), RootKeyID: roots[1].ID, AccountID: "acct_2", Hash: randomHash(t),
		Prefix: "sk_live_child", CreatedAt: now}
	if err := writer.InsertChildKey(ctx, child); err != nil {
		t.Fatal(err)
	}
	ids := []uuid.UUID{roots[0].ID, child.ID}
	if _, err := writer.RevokeLeaked(ctx, ids, now); err != nil {
		t.Fatal(err)
	}
	heard := map[string]bool{}
	for range 2 {
		select {
		case id := <-got:
			heard[id] = true
		case <-time.After(deliveryDeadline):
			t.Fatalf("heard %v within %v, want acct_1 and acct_2", heard, deliveryDeadline)
		}
	}
	if !heard["acct_1"] || !heard["acct_2"] {
		t.Fatalf("heard %v, want acct_1 and acct_2", heard)
	}
	if _, err := writer.RevokeLeaked(ctx, ids, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	expectNone(t, got, writer, "acct_sentinel")
}
