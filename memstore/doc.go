// Package memstore is an in-memory store.Store for tests and single-process
// programs that do not need their keys to outlive the process.
//
// Every method takes one mutex, so each call is atomic by construction. It
// has no dependencies beyond the store package.
package memstore
