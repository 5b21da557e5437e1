// Package keys gives a Go service account API keys the way Stripe, GitHub
// and Unkey do: root keys and child keys, stored only as hashes, resolved on
// every request from memory, rate-limited and metered, and rotated in one
// atomic step.
//
// # Model
//
// An Account belongs to the host service and has a Tier and an
// email-verified flag. It has at most one active root key; Reissue replaces
// it (or issues the first) and, in the same atomic step, revokes every child
// key, at once or after a grace period (WithGrace), optionally only under a
// condition (IfRoot, IfNoRoot). IssueChild issues child keys from the
// active root, optionally named, expiring, with lower limits, scopes,
// metadata or allowed networks. A key's plaintext token is returned once,
// in Issued.Secret, and never stored: the store keeps its SHA-256 (or
// HMAC-SHA-256 with Config.Pepper).
//
// Tokens look like sk_live_<43 base62 chars><6 base62 chars of CRC32>; the
// checksum lets Authenticate refuse a mistyped or invented token before any
// store access. A Manager configured with Environment "test" issues and
// accepts sk_test_ tokens instead.
//
// # Requests
//
// Authenticate resolves a token to its Key, with its Effective limits (its
// overrides, else its tier's) and its account's Pool limits. Allow then
// decides the request: a per-minute rate and a calendar-month quota, each
// held per key and per account, so issuing children never multiplies what
// an account gets. Both calls are answered from memory once a key is warm;
// last-used times and usage counts are written in batches every
// Config.FlushInterval and on Close.
//
// Revocation through a Manager takes effect in it at once, cached or not.
// Changes made by another process sharing the store are seen within
// Config.CacheTTL.
//
// # Storage
//
// A Manager runs over any store.Store: memstore for tests, sqlitestore (the
// embedded default) or pgstore for several instances. The optional
// httpadapter package serves the account endpoints over net/http.
package keys
