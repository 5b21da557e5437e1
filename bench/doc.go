// Package bench holds the benchmarks that cross packages: a keys.Manager
// over the SQLite store, and the HTTP adapter over real loopback TCP, each
// beside its floor (the cheapest code that could do the same job) so that
// one run yields a ratio. run.sh runs the whole suite and prints the
// ratios; the package itself has no code.
package bench
