// Package memstore is an in-memory store.Store for tests and single-process
// programs that do not need their keys to outlive the process.
//
// Every method takes one mutex, so each call is atomic by construction.
// Keys are indexed by hash, by ID and by account, so a reissue or a
// revocation costs what the account holds, not what the store holds. It
// has no dependencies beyond the store package.
//
// Like every store of this module it has Close() error, to be called after
// the last keys.Manager over it is closed; here it holds nothing and does
// nothing, so code can close whichever store it opened the same way.
package memstore
