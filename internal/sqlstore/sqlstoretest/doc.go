// Package sqlstoretest holds what the tests of sqlitestore and pgstore
// share beyond the conformance suite: a concurrency stress run, the crash
// test (a child process killed with SIGKILL under load), the invariant
// checks, and key constructors. The per-method behaviour is
// store/storetest's job.
package sqlstoretest
