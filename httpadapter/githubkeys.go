package httpadapter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// GitHubPublicKeysURL is where GitHub publishes the keys that sign its
// secret-scanning reports: the default SecretScanningOptions.PublicKeysURL.
const GitHubPublicKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

var (
	// errUnknownKeyID means no published key has the report's identifier,
	// even after a refetch (or a refetch was made too recently).
	errUnknownKeyID = errors.New("httpadapter: no GitHub public key has this identifier")
	// errBadSignature means the signature does not verify.
	errBadSignature = errors.New("httpadapter: signature does not verify")
	// errNoPublicKeys means the key list could not be had at all.
	errNoPublicKeys = errors.New("httpadapter: GitHub's public keys are unavailable")
)

// maxKeyListBytes bounds the public-key document read from the network.
const maxKeyListBytes = 1 << 20

// publicKeys is a cached copy of the signing keys at a URL. The list is
// fetched on first use, again when it is older than ttl, and again when a
// report names an identifier it lacks, but then at most once per refetch
// interval, so a flood of made-up identifiers costs one request to GitHub
// per interval. A failed fetch keeps the last good list.
type publicKeys struct {
	url     string
	client  *http.Client
	now     func() time.Time
	refetch time.Duration
	ttl     time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time // last successful fetch
	// staleTriedAt and unknownTriedAt are the last fetch attempts made
	// for a missing or stale list and for an unknown identifier.
	staleTriedAt, unknownTriedAt time.Time
}

// checkKeysURL accepts an https URL, or plain http to a loopback host only
// (a test's fake GitHub): the keys decide what may revoke keys, so they
// must not come over a network in clear text.
func checkKeysURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("httpadapter: PublicKeysURL: %w", err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("httpadapter: PublicKeysURL %q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("httpadapter: PublicKeysURL %q must be https (plain http only to a loopback address)", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// verify checks that sig (base64 of an ASN.1 DER ECDSA signature) signs
// body's SHA-256 under the key named id.
func (p *publicKeys) verify(ctx context.Context, id, sig string, body []byte) error {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", errBadSignature)
	}
	pub, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], raw) {
		return errBadSignature
	}
	return nil
}

// lookup returns the key named id, fetching the list as the type's doc
// says.
func (p *publicKeys) lookup(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	pub, known := p.keys[id]
	// Fetches for a stale list and for an unknown identifier each happen
	// at most once per refetch interval, so neither a GitHub outage nor a
	// flood of made-up identifiers turns into a flood of fetches.
	var last *time.Time
	switch {
	case p.keys == nil || now.Sub(p.fetchedAt) >= p.ttl:
		last = &p.staleTriedAt
	case !known:
		last = &p.unknownTriedAt
	}
	if last != nil && (last.IsZero() || now.Sub(*last) >= p.refetch) {
		*last = now
		keys, err := p.fetch(ctx)
		if err != nil {
			p.log.ErrorContext(ctx, "httpadapter: fetching GitHub's secret-scanning public keys failed; keeping the last good list",
				"url", p.url, "err", err)
		} else {
			p.keys, p.fetchedAt = keys, now
			pub, known = p.keys[id]
		}
	}
	switch {
	case known:
		return pub, nil
	case p.keys == nil:
		return nil, errNoPublicKeys
	default:
		return nil, errUnknownKeyID
	}
}

// fetch reads and parses the key list. Entries that are not ECDSA P-256
// public keys are skipped; a list with none is an error.
func (p *publicKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeyListBytes)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding the key list: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, k := range doc.PublicKeys {
		pub, err := parseP256(k.Key)
		if err != nil || k.KeyIdentifier == "" {
			p.log.Warn("httpadapter: skipping an unusable GitHub public key", "key_identifier", k.KeyIdentifier, "err", err)
			continue
		}
		// Keys that are no longer current still verify: GitHub keeps
		// them listed while reports signed with them may be in flight.
		keys[k.KeyIdentifier] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("the key list holds no ECDSA P-256 key")
	}
	return keys, nil
}

// parseP256 reads a PEM "PUBLIC KEY" block holding an ECDSA P-256 key.
func parseP256(s string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}
