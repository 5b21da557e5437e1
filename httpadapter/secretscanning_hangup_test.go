package httpadapter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
)

// A sender that hangs up while the key list is fetched must not spend the
// once-per-interval fetch: GitHub's genuine report right after is verified.
func TestSecretScanningFetchNotSpentByAHangUp(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"public_keys": []map[string]any{{"key_identifier": "k1", "key": pemKey, "is_current": true}}})
	}))
	defer gh.Close()
	m, err := keys.New(memstore.New(), keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ss, err := httpadapter.NewSecretScanning(m, httpadapter.SecretScanningOptions{PublicKeysURL: gh.URL})
	if err != nil {
		t.Fatal(err)
	}
	body := `[{"token":"sk_live_x","type":"t","url":"u","source":"content"}]`
	// 1. An unauthenticated client sends junk and hangs up at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body)).WithContext(ctx)
	r.Header.Set("Github-Public-Key-Identifier", "k1")
	r.Header.Set("Github-Public-Key-Signature", "AAAA")
	rec := httptest.NewRecorder()
	ss.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("a junk signature: %d %s, want 401", rec.Code, rec.Body)
	}
	// 2. GitHub's genuine, correctly signed report right after.
	d := sha256.Sum256([]byte(body))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Github-Public-Key-Identifier", "k1")
	r.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
	rec = httptest.NewRecorder()
	ss.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Errorf("a genuine report was refused (%d) because an unauthenticated, cancelled request spent the key fetch", rec.Code)
	}
}
