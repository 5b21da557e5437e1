// Package httpadapter serves the account endpoints of a keys.Manager over
// net/http and guards a host's data routes with API keys.
//
// # Mounting
//
//	h := httpadapter.New(m, httpadapter.Options{Sessions: verifier})
//	mux.Handle("/account/", h)                    // GET /account/key, POST /account/key/reissue
//	mux.Handle("/v1/", h.RequireKey(dataHandler)) // API keys only; rate + quota
//
// Inside dataHandler, keys.FromContext(r.Context()) returns the caller's
// key. Options.BasePath moves the endpoints under a prefix.
//
// # Credentials
//
// Every request carries exactly one "Authorization: Bearer <token>"
// header (the scheme in any case). A token that starts with sk_live_ or
// sk_test_ is an API key and goes to Manager.Authenticate (a key of the
// other environment is refused as invalid_api_key); anything else is a
// session token and goes to Options.Sessions, a SessionVerifier such as
// the JWTVerifier of this package or a SessionFunc. The account endpoints
// take both; RequireKey takes API keys only.
//
// Sessions from a login provider (Auth0, Clerk, Cognito, Keycloak,
// Supabase, Firebase) are verified against its published keys by
// NewJWKSVerifier. Both JWT verifiers read tokens strictly: canonical
// base64url only, no "crit", sane "exp"/"nbf"/"iat", "Ed25519" accepted as
// EdDSA, an optional required "typ".
//
// A host whose sessions are cookies sets Options.SessionFromRequest: it is
// asked when a request to the account endpoints has no Authorization
// header, and a state-changing request authorised by it must pass
// http.CrossOriginProtection (Options.TrustedOrigins), else 403
// cross_origin_request.
//
// # Endpoints
//
// GET /account/key (and HEAD) returns {"key":{…}}, thirteen fields: for an
// API key its own metadata (a child key sees itself), for a session its
// account's active root key. POST /account/key/reissue, by a session or a
// root key, replaces the root key, revokes every child, and returns the
// new token once, with Cache-Control: no-store. Its optional body,
// {"grace_period_seconds": N, "if_root_key_id": "<uuid>"|"none"}, keeps
// the old keys working for N seconds and makes the reissue conditional
// (409 root_key_changed); anything else in it is 400 invalid_request, and
// a body over Options.MaxBodyBytes is 413.
//
// RequireKey takes options: WithScopes (403 insufficient_scope) and
// WithCost. A key with allowed networks is refused from elsewhere (403
// ip_not_allowed; Options.ClientIP says where a request comes from), and
// Options can let data routes read the key from X-API-Key or HTTP Basic.
//
// The key-management routes (keyroutes.go) let a session or a root key
// list, issue, read, change and revoke the account's child keys (GET and
// POST /account/keys, GET, PATCH and DELETE /account/keys/{id}), and
// anyone of the account read the month's usage (GET /account/usage; a
// child key sees its own entry and the pool). Their JSON bodies ignore
// unknown fields. Options.DisableKeyManagement turns /account/keys* off.
//
// # Limits
//
// The account endpoints count against the per-minute rate of the key (a
// session: of its account's root key, or of the account's pool if it has
// none), not the monthly quota; RequireKey counts both. Every
// authenticated answer carries X-RateLimit-Limit, X-RateLimit-Remaining
// and X-RateLimit-Reset (Unix seconds, rounded up); a 429 carries
// Retry-After (whole seconds, rounded up, at least 1).
//
// # Errors
//
// Errors are {"error":{"code":"…","message":"…"}} with the status of the
// Code constants: 401 (always with WWW-Authenticate: Bearer) for missing
// or bad credentials, 400 for a bad request body or two credentials, 403
// for a child key, a retiring root key or an unverified email on reissue
// and for a missing scope or a client outside the key's networks, 404, 405
// with Allow, 409, 413, 429, 500 when the store fails (the
// cause is logged through Options.Logger, never sent), 503 when the
// Manager is closed or busy (keys.ErrBusy: its budget of store lookups
// for uncached tokens is spent; with Retry-After: 1). Options.ErrorHandler
// renders them differently.
package httpadapter
