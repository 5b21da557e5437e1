// Package tokentest makes tokens for tests of the forged-token defence:
// well formed, with a valid checksum, yet belonging to no key. It is for
// tests and benchmarks only.
package tokentest
