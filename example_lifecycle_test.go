package keys_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// Rotate a root key with a day's grace: the old key keeps working until
// then, and a first-key request that is repeated cannot replace the key it
// already got.
func ExampleWithGrace() {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", EmailVerified: true}); err != nil {
		log.Fatal(err)
	}
	old, err := m.Reissue(ctx, "acct_1", keys.IfNoRoot())
	if err != nil {
		log.Fatal(err)
	}
	_, err = m.Reissue(ctx, "acct_1", keys.IfNoRoot()) // the double click
	fmt.Println(errors.Is(err, keys.ErrRootKeyChanged))

	if _, err := m.Reissue(ctx, "acct_1", keys.WithGrace(24*time.Hour)); err != nil {
		log.Fatal(err)
	}
	k, err := m.Authenticate(ctx, old.Secret)
	fmt.Println(err, k.Retiring(m.Now()), k.StopsAt().Sub(m.Now()).Round(time.Hour))
	// Output:
	// true
	// <nil> true 24h0m0s
}

// Issue a child key that may only read prices, from one network.
func ExampleChildOptions() {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", EmailVerified: true}); err != nil {
		log.Fatal(err)
	}
	if _, err := m.Reissue(ctx, "acct_1"); err != nil {
		log.Fatal(err)
	}
	ch, err := m.IssueChild(ctx, "acct_1", keys.ChildOptions{
		Name:            "prices-reader",
		Scopes:          []string{"prices:read"},
		Metadata:        map[string]string{"project": "p1"},
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ExpiresIn:       30 * 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	k, _ := m.Authenticate(ctx, ch.Secret)
	fmt.Println(k.HasScope("prices:read"), k.HasScope("prices:write"))
	fmt.Println(k.AllowsAddr(netip.MustParseAddr("10.1.2.3")), k.AllowsAddr(netip.MustParseAddr("192.0.2.1")))
	fmt.Println(k.Metadata["project"])
	// Output:
	// true false
	// true false
	// p1
}
