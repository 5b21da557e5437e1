// Package pgstore is a store.Store in PostgreSQL, for services that run on
// many machines. It shares its implementation with sqlitestore (bun, the
// same queries, migrations in PostgreSQL form) and uses the pgx driver.
//
//	st, err := pgstore.Open(ctx, "postgres://keys@db.internal/keys")
//	if err != nil { ... }
//	defer st.Close()
//
// The schema (tables prefixed keys_) is created and upgraded in the
// connection's current schema by embedded migrations on Open and New;
// concurrent Opens wait for each other on an advisory lock. Times are
// timestamptz, read back in UTC.
//
// Changes to one account's keys serialise on the account's row: the
// transaction of ReplaceRootKey or RevokeKey starts with SELECT ... FOR
// UPDATE on it (RevokeLeaked locks every account concerned, in ID order) and that of InsertChildKey with FOR SHARE, so concurrent
// reissues end with exactly one active root key and a child is never
// attached to a root that a concurrent reissue revoked. Transactions that
// PostgreSQL aborts as deadlock victims are retried.
//
// # Cache invalidation
//
// The transactions of ReplaceRootKey, RevokeKey, RevokeLeaked and
// UpdateAccount NOTIFY the ID of each account they change on the store's
// channel, so the message is delivered when, and only if, the change
// commits. Subscribe LISTENs on that channel from
// any process and reports each account ID, reconnecting when the
// connection drops. The channel is keys_invalidate when the tables are in
// the public schema and keys_invalidate:<schema> otherwise, so stores in
// different schemas of one database do not hear each other.
//
// ResolveHash is a server-side prepared statement (one per pooled
// connection) and Subscribe holds a LISTENing session, so a PgBouncer in
// front of PostgreSQL must use session pooling, not transaction pooling.
//
// Close stops subscriptions and releases what the Store holds; every store
// of this module has the same Close() error, to be called after the last
// keys.Manager over it is closed.
package pgstore
