package httpadapter_test

import (
	"context"
	"log"
	"net/http"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// Sessions from a login provider: its JWKS, the issuer and the audience of
// your API. The verifier refreshes the keys until ctx ends.
func ExampleNewJWKSVerifier() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	v, err := httpadapter.NewJWKSVerifier(ctx, httpadapter.JWKSConfig{
		URL:      "https://example-tenant.us.auth0.com/.well-known/jwks.json",
		Issuer:   "https://example-tenant.us.auth0.com/",
		Audience: "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.Handle("/account/", httpadapter.New(m, httpadapter.Options{Sessions: v}))
}

// Sessions from a cookie: state-changing requests must come from the same
// origin or a trusted one.
func ExampleOptions_sessionFromRequest() {
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	accountOf := func(sessionID string) (string, error) { return "acct_1", nil } // the host's session store
	h := httpadapter.New(m, httpadapter.Options{
		SessionFromRequest: func(r *http.Request) (string, error) {
			c, err := r.Cookie("session")
			if err != nil {
				return "", nil // no session: 401 missing_credentials
			}
			return accountOf(c.Value)
		},
		TrustedOrigins: []string{"https://app.example.com"},
	})
	http.Handle("/account/", h)
}
