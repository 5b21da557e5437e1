// Package store defines the storage contract behind a keys.Manager.
//
// A Store persists accounts, API keys (as hashes, never plaintext) and
// monthly usage counts. It holds no policy: it does not check email
// verification, tiers, limits or expiry; the keys package does. What it does
// guarantee is atomicity: every change that touches more than one row is a
// single method (ReplaceRootKey, RevokeKey, RevokeLeaked, InsertChildKey,
// AddUsage, RecordLastUsed) that the backend performs as one unit, so no caller ever
// smuggles a transaction through a context.
//
// Backends: memstore (in memory), sqlitestore (embedded default) and pgstore
// (PostgreSQL). A third-party backend proves itself by running the
// conformance suite in store/storetest unchanged.
//
// The package imports nothing else from this module, so a backend depends on
// it alone.
package store
