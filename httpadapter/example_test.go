package httpadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

func ExampleNew() {
	ctx := context.Background()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateAccount(ctx, keys.Account{ID: "acct_1", Tier: keys.Pro, EmailVerified: true}); err != nil {
		log.Fatal(err)
	}

	// The host's own login decides who a session token belongs to. A real
	// service would use httpadapter.NewJWTVerifier or look the session up.
	sessions := httpadapter.SessionFunc(func(ctx context.Context, token string) (string, error) {
		if token == "session-of-alice" {
			return "acct_1", nil
		}
		return "", errors.New("unknown session")
	})

	// The host's existing mux gets the account endpoints and a data route
	// that takes API keys only.
	mux := http.NewServeMux()
	h := httpadapter.New(m, httpadapter.Options{Sessions: sessions})
	mux.Handle("/account/", h)
	mux.Handle("/v1/", h.RequireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := keys.FromContext(r.Context())
		fmt.Fprintf(w, "quotes for %s\n", k.AccountID)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, token string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}

	// Signed in, Alice gets her first key; it is shown once.
	resp := call("POST", "/account/key/reissue", "session-of-alice")
	var issued struct {
		Key       string `json:"key"`
		KeyPrefix string `json:"key_prefix"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, issued.KeyPrefix, resp.Header.Get("Cache-Control"))

	// Her program uses the key on a data route.
	resp = call("GET", "/v1/quotes", issued.Key)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	fmt.Println("limit", resp.Header.Get("X-RateLimit-Limit"))

	// The key sees its own metadata.
	resp = call("GET", "/account/key", issued.Key)
	var meta struct {
		Key struct {
			IsRootKey bool  `json:"is_root_key"`
			Quota     int64 `json:"effective_quota_requests_per_month"`
		} `json:"key"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, meta.Key.IsRootKey, meta.Key.Quota)

	// A session token is not an API key.
	resp = call("GET", "/v1/quotes", "session-of-alice")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body), "\n")

	// Output:
	// 200 sk_live_root no-store
	// 200 quotes for acct_1
	// limit 300
	// 200 true 500000
	// 401 {"error":{"code":"invalid_api_key","message":"This endpoint needs an API key; a session token is not accepted here."}}
}
