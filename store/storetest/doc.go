// Package storetest is the conformance suite for store.Store backends.
//
// Every backend, ours or a user's, proves itself with one test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
//	}
//
// Run calls newStore once per subtest, so each subtest starts from an empty
// store; newStore should register any cleanup with t.Cleanup.
package storetest
