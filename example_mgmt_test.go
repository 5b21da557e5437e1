package keys_test

import (
	"context"
	"fmt"
	"log"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// Rename a child key, replace its metadata and lift its scopes; fields
// left zero are unchanged.
func ExampleManager_UpdateKey() {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		log.Fatal(err)
	}
	if _, err := m.Reissue(ctx, "acct_1"); err != nil {
		log.Fatal(err)
	}
	ch, err := m.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "ci", Scopes: []string{"prices:read"}})
	if err != nil {
		log.Fatal(err)
	}
	k, err := m.UpdateKey(ctx, "acct_1", ch.Key.ID, keys.KeyUpdate{
		Name:     keys.To("deploy"),
		Metadata: keys.To(map[string]string{"team": "platform"}),
		Scopes:   keys.To[[]string](nil), // unrestricted
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Name, k.Metadata["team"], k.Scopes == nil)
	// Output: deploy platform true
}

// Read the month's usage of an account and its keys, including what this
// Manager admitted and has not written to the store yet.
func ExampleManager_Usage() {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		log.Fatal(err)
	}
	iss, err := m.Reissue(ctx, "acct_1")
	if err != nil {
		log.Fatal(err)
	}
	k, err := m.Authenticate(ctx, iss.Secret)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if _, err := m.Allow(ctx, k); err != nil {
			log.Fatal(err)
		}
	}
	u, err := m.Usage(ctx, "acct_1", m.Now()) // this month
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Account.Requests, u.Account.Quota, u.Account.Remaining, len(u.Keys), u.Keys[0].Requests)
	// Output: 3 500000 499997 1 3
}
