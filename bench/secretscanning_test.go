package bench_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keys"
	"github.com/keyward/keys/httpadapter"
	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/sqlitestore"
	"github.com/keyward/keys/store"
)

// reportTokens is the size of the report: GitHub's largest, as the
// handler caps it.
const reportTokens = httpadapter.SecretScanningMaxTokens

// scanBench is a SecretScanning handler over a SQLite file holding
// reportTokens live child keys (ten accounts of a hundred), and a fake
// GitHub that signs reports.
type scanBench struct {
	ss     *httpadapter.SecretScanning
	st     store.Store
	raw    *sql.DB // resets the keys between runs
	priv   *ecdsa.PrivateKey
	keyID  string
	live   []string
	hashes []store.Hash
}

func newScanBench(b *testing.B) *scanBench {
	b.Helper()
	path := filepath.Join(b.TempDir(), "keys.db")
	st, err := sqlitestore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	m, err := keys.New(st, keys.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(); st.Close() })
	ctx := context.Background()
	s := &scanBench{st: st, keyID: "bench-key"}
	for a := range 10 {
		id := fmt.Sprintf("acct_%d", a)
		if err := m.CreateAccount(ctx, keys.Account{ID: id, EmailVerified: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Reissue(ctx, id); err != nil {
			b.Fatal(err)
		}
		for range reportTokens / 10 {
			iss, err := m.IssueChild(ctx, id, keys.ChildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			s.live = append(s.live, iss.Secret)
			s.hashes = append(s.hashes, sha256.Sum256([]byte(iss.Secret)))
		}
	}
	if s.raw, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.raw.Close() })
	if s.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&s.priv.PublicKey)
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": s.keyID, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "is_current": true}}})
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) }))
	b.Cleanup(gh.Close)
	if s.ss, err = httpadapter.NewSecretScanning(m, httpadapter.SecretScanningOptions{PublicKeysURL: gh.URL}); err != nil {
		b.Fatal(err)
	}
	return s
}

// request returns a signed report of tokens.
func (s *scanBench) request(b *testing.B, tokens []string) func() *http.Request {
	type match struct{ Token, Type, URL, Source string }
	ms := make([]match, len(tokens))
	for i, t := range tokens {
		ms[i] = match{t, "keys_api_key", "https://github.com/o/r/blob/c/f", "content"}
	}
	body, _ := json.Marshal(ms)
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Github-Public-Key-Identifier", s.keyID)
		r.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
		return r
	}
}

func (s *scanBench) serve(b *testing.B, r *http.Request) {
	rec := httptest.NewRecorder()
	s.ss.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// unrevoke makes every child key live again, outside the timer.
func (s *scanBench) unrevoke(b *testing.B) {
	if _, err := s.raw.Exec("UPDATE keys_api_keys SET revoked_at = NULL WHERE NOT is_root"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSecretScanning1000 handles a report of 1,000 tokens on SQLite:
// all live (each revoked, in one transaction), the same report again
// (nothing left to revoke), and 1,000 well-formed tokens of no key. The
// floor is the least any handler must do: verify the signature and look
// the hashes up in the same store, in the fewest queries it allows; for
// AllLive, FloorRevoke adds one raw UPDATE of the 1,000 rows.
func BenchmarkSecretScanning1000(b *testing.B) {
	s := newScanBench(b)
	live := s.request(b, s.live)
	b.Run("AllLive", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.unrevoke(b)
			r := live()
			b.StartTimer()
			s.serve(b, r)
		}
	})
	b.Run("Repeated", func(b *testing.B) {
		s.serve(b, live())
		for b.Loop() {
			s.serve(b, live())
		}
	})
	b.Run("Unknown", func(b *testing.B) {
		other := make([]string, reportTokens)
		m, _ := keys.New(memstore.New(), keys.Config{})
		defer m.Close()
		_ = m.CreateAccount(context.Background(), keys.Account{ID: "x", EmailVerified: true})
		for i := range other {
			iss, err := m.Reissue(context.Background(), "x")
			if err != nil {
				b.Fatal(err)
			}
			other[i] = iss.Secret
		}
		req := s.request(b, other)
		for b.Loop() {
			s.serve(b, req())
		}
	})
	b.Run("FloorRevoke", func(b *testing.B) {
		// AllLive's floor: the same, plus one raw UPDATE of the 1,000 rows
		// in one transaction.
		body, _ := json.Marshal(s.live)
		digest := sha256.Sum256(body)
		sig, _ := ecdsa.SignASN1(rand.Reader, s.priv, digest[:])
		ctx := context.Background()
		ids := make([]string, 0, len(s.hashes))
		found, err := s.st.(store.HashResolver).ResolveHashes(ctx, s.hashes)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range found {
			ids = append(ids, "'"+r.Key.ID.String()+"'")
		}
		update := "UPDATE keys_api_keys SET revoked_at = 1 WHERE revoked_at IS NULL AND id IN (" + strings.Join(ids, ",") + ")"
		for b.Loop() {
			b.StopTimer()
			s.unrevoke(b)
			b.StartTimer()
			d := sha256.Sum256(body)
			if !ecdsa.VerifyASN1(&s.priv.PublicKey, d[:], sig) {
				b.Fatal("verify")
			}
			if _, err := s.st.(store.HashResolver).ResolveHashes(ctx, s.hashes); err != nil {
				b.Fatal(err)
			}
			tx, err := s.raw.Begin()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(update); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Floor", func(b *testing.B) {
		body, _ := json.Marshal(s.live)
		digest := sha256.Sum256(body)
		sig, _ := ecdsa.SignASN1(rand.Reader, s.priv, digest[:])
		ctx := context.Background()
		for b.Loop() {
			d := sha256.Sum256(body)
			if !ecdsa.VerifyASN1(&s.priv.PublicKey, d[:], sig) {
				b.Fatal("verify")
			}
			found, err := s.st.(store.HashResolver).ResolveHashes(ctx, s.hashes)
			if err != nil || len(found) != len(s.hashes) {
				b.Fatalf("ResolveHashes: %d found, %v", len(found), err)
			}
		}
	})
}
