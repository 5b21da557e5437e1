package httpadapter_test

import (
	"context"
	"log"
	"log/slog"
	"net/http"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// A host registers this endpoint with GitHub's secret-scanning partner
// program; GitHub then reports every token of the format it finds in
// public, and the handler revokes the live ones.
func ExampleNewSecretScanning() {
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ss, err := httpadapter.NewSecretScanning(m, httpadapter.SecretScanningOptions{
		// PublicKeysURL defaults to GitHub's list; Action to Revoke.
		OnLeak: func(ctx context.Context, l httpadapter.LeakedKey) {
			// Tell the account's owner; never log the token (l has none).
			slog.WarnContext(ctx, "key leaked", "key", l.Key, "revoked", l.Revoked, "url", l.URL)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /github/secret-scanning", ss)
	_ = mux // http.ListenAndServe(addr, mux) in a real server
}
