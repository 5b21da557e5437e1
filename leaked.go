package keys

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/keyward/keys/store"
)

// Leak is what a Manager found for one token of a leak report.
type Leak struct {
	// Found is true when a key with this token exists, revoked or not. A
	// token of the wrong shape, environment or checksum is never looked up
	// and is not Found.
	Found bool
	// Key is the token's key as it is after the call; zero unless Found.
	Key Key
	// Live is true when the key was not revoked as the report came in (an
	// expired key, or one in a rotation grace, is live: a leak ends it all
	// the same).
	Live bool
	// Revoked is true when this call revoked the key. RevokeLeaked sets it
	// for every live key; FindLeaked never does.
	Revoked bool
}

// LeakReport is the answer of RevokeLeaked and FindLeaked.
type LeakReport struct {
	// Tokens holds one Leak per token given, in the same order; a token
	// given twice gets two equal entries.
	Tokens []Leak
	// Revoked lists every key the call revoked: the leaked keys and, for a
	// leaked root, every other key of its account, ordered by account, then
	// creation time, then ID. It is empty for FindLeaked and for a report
	// that was already handled.
	Revoked []Key
}

// FindLeaked looks up the tokens of a leak report without changing
// anything: a token is checked offline first (shape, environment and
// checksum), so junk never reaches the store, then looked up by its hash in
// the store (never the cache). It returns an error only when the store
// fails.
func (m *Manager) FindLeaked(ctx context.Context, tokens []string) (LeakReport, error) {
	if err := m.checkOpen(); err != nil {
		return LeakReport{}, err
	}
	rep, _, err := m.findLeaked(ctx, tokens)
	return rep, err
}

// RevokeLeaked is the answer to a leak report: it looks the tokens up as
// FindLeaked does and then, in one store transaction, revokes every live
// key among them. A leaked root key is a compromise of its account: the
// root and every key of the account (retiring ones included) are revoked
// at once and nothing is minted, so the owner must reissue. Keys revoked
// before keep their revocation time, so the same report twice revokes
// once. The revocations take effect in this Manager's cache at once.
//
// Each revocation is logged at Warn level with the key's ID and account
// (never the token). The key.leaked audit event is not written yet.
func (m *Manager) RevokeLeaked(ctx context.Context, tokens []string) (LeakReport, error) {
	if err := m.checkOpen(); err != nil {
		return LeakReport{}, err
	}
	rep, accounts, err := m.findLeaked(ctx, tokens)
	if err != nil {
		return LeakReport{}, err
	}
	var ids []uuid.UUID
	for _, l := range rep.Tokens {
		if l.Live {
			ids = append(ids, l.Key.ID)
		}
	}
	if len(ids) == 0 {
		return rep, nil
	}
	sctx, cancel := m.storeCtx(ctx)
	revoked, err := m.store.RevokeLeaked(sctx, ids, m.clock().UTC())
	cancel()
	if err != nil {
		// The revocation may have committed before the error (a lost
		// reply): trust nothing cached.
		m.cache.invalidateAll()
		return LeakReport{}, mapStoreErr(err, nil, "revoking leaked keys")
	}
	byID := make(map[uuid.UUID]Key, len(revoked))
	perAccount := make(map[string]int)
	for _, k := range revoked {
		key := m.keyFromStore(k, accounts[k.AccountID])
		byID[k.ID] = key
		rep.Revoked = append(rep.Revoked, key)
		if perAccount[k.AccountID] == 0 {
			m.cache.invalidateAccount(k.AccountID)
		}
		perAccount[k.AccountID]++
	}
	logged := make(map[uuid.UUID]bool)
	for i := range rep.Tokens {
		l := &rep.Tokens[i]
		k, ok := byID[l.Key.ID]
		if !ok || !l.Found {
			continue
		}
		l.Key, l.Revoked = k, true
		if !logged[k.ID] {
			logged[k.ID] = true
			m.log.Warn("keys: leaked key revoked", "key", k, "root", k.IsRoot)
			if k.IsRoot {
				m.log.Warn("keys: a leaked root key revoked every key of its account; the owner must reissue",
					"account", k.AccountID, "keys_revoked", perAccount[k.AccountID])
			}
		}
	}
	return rep, nil
}

// resolveMany reads the keys of the given distinct hashes from the store:
// in a few queries when it is a store.HashResolver, one by one otherwise.
func (m *Manager) resolveMany(ctx context.Context, hashes []store.Hash) (map[store.Hash]store.Resolved, error) {
	if hr, ok := m.store.(store.HashResolver); ok && len(hashes) > 0 {
		sctx, cancel := m.storeCtx(ctx)
		found, err := hr.ResolveHashes(sctx, hashes)
		cancel()
		return found, mapStoreErr(err, nil, "resolving leaked keys")
	}
	found := make(map[store.Hash]store.Resolved, len(hashes))
	for _, h := range hashes {
		sctx, cancel := m.storeCtx(ctx)
		r, err := m.store.ResolveHash(sctx, h)
		cancel()
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, mapStoreErr(err, nil, "resolving leaked key")
		}
		found[h] = r
	}
	return found, nil
}

// findLeaked resolves each well-formed token once and returns the report
// and the accounts of the keys found.
func (m *Manager) findLeaked(ctx context.Context, tokens []string) (LeakReport, map[string]store.Account, error) {
	rep := LeakReport{Tokens: make([]Leak, len(tokens)), Revoked: []Key{}}
	accounts := make(map[string]store.Account)
	seen := make(map[store.Hash]bool, len(tokens))
	now := m.clock()
	hashes := make([]store.Hash, len(tokens))
	wellFormed := make([]bool, len(tokens))
	var unique []store.Hash
	for i, token := range tokens {
		if !m.format.check(token) {
			continue
		}
		hashes[i], wellFormed[i] = m.hasher.sum(token), true
		if !seen[hashes[i]] {
			seen[hashes[i]] = true
			unique = append(unique, hashes[i])
		}
	}
	found, err := m.resolveMany(ctx, unique)
	if err != nil {
		return LeakReport{}, nil, err
	}
	for i := range tokens {
		r, ok := found[hashes[i]]
		if !wellFormed[i] || !ok {
			continue
		}
		accounts[r.Account.ID] = r.Account
		rep.Tokens[i] = Leak{
			Found: true,
			Key:   m.keyFromStore(r.Key, r.Account),
			Live:  !r.Key.RevokedAsOf(now),
		}
	}
	return rep, accounts, nil
}
