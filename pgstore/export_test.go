package pgstore

import "time"

// Channel exposes the NOTIFY channel to the tests, which look for the
// listener's backend by it.
func (s *Store) Channel() string { return s.channel }

// SetPingEvery shortens Subscribe's liveness check for the tests.
func (s *Store) SetPingEvery(d time.Duration) { s.pingEvery = d }
