package keys_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/memstore"
)

// Issue a root key to a verified account and authenticate a request with
// it.
func Example() {
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
	// iss.Secret is shown to the user once; only its hash is stored.

	k, err := m.Authenticate(ctx, iss.Secret)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Prefix, k.AccountID, k.IsRoot, k.Effective.RequestsPerMinute, k.Effective.RequestsPerMonth)

	_, err = m.Authenticate(ctx, "sk_live_not-a-real-key")
	fmt.Println(errors.Is(err, keys.ErrMalformedKey))
	// Output:
	// sk_live_root acct_1 true 300 500000
	// true
}

// Issue a child key with its own lower limits and an expiry; reissuing the
// root revokes it.
func ExampleManager_IssueChild() {
	ctx := context.Background()
	m, _ := keys.New(memstore.New(), keys.Config{})
	defer m.Close()
	_ = m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Starter, EmailVerified: true})
	if _, err := m.Reissue(ctx, "acct_1"); err != nil {
		log.Fatal(err)
	}

	expires := time.Now().Add(30 * 24 * time.Hour)
	rate := 10
	child, err := m.IssueChild(ctx, "acct_1", keys.ChildOptions{Name: "ci", ExpiresAt: &expires, RequestsPerMinute: &rate})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(child.Key.Prefix, child.Key.Name, child.Key.Effective.RequestsPerMinute, child.Key.Effective.RequestsPerMonth)
	// Printing or logging an Issued redacts the secret.
	fmt.Println(strings.Contains(fmt.Sprint(child), child.Secret))

	if _, err := m.Reissue(ctx, "acct_1"); err != nil {
		log.Fatal(err)
	}
	_, err = m.Authenticate(ctx, child.Secret)
	fmt.Println(errors.Is(err, keys.ErrRevokedKey))
	// Output:
	// sk_live_child ci 10 100000
	// false
	// true
}

// Decide a data request: per-minute rate and monthly quota, per key and per
// account.
func ExampleManager_Allow() {
	ctx := context.Background()
	m, _ := keys.New(memstore.New(), keys.Config{
		Tiers: map[keys.Tier]keys.Limits{"trial": {RequestsPerMinute: 2, RequestsPerMonth: 1000}},
	})
	defer m.Close()
	_ = m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: "trial", EmailVerified: true})
	iss, _ := m.Reissue(ctx, "acct_1")
	k, _ := m.Authenticate(ctx, iss.Secret)

	for range 3 {
		d, err := m.Allow(ctx, k)
		fmt.Println(d.Allowed, d.Remaining, d.Quota.Remaining, errors.Is(err, keys.ErrRateLimited))
	}
	// Output:
	// true 1 999 false
	// true 0 998 false
	// false 0 998 true
}

// Stop a Manager with a deadline on its final flush, as a server does on
// SIGTERM; a *keys.FlushError says what could not be written.
func ExampleManager_Shutdown() {
	st := memstore.New()
	m, err := keys.New(st, keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	// ... serve requests ...

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = m.Shutdown(ctx)
	var fe *keys.FlushError
	switch {
	case errors.As(err, &fe):
		fmt.Printf("lost %d requests of usage\n", fe.Requests)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("flushed")
	}
	// The store is the caller's, closed after the Manager (memstore holds
	// nothing to close).
	// Output: flushed
}
