package main

import "fmt"

// demoMode is serve's -demo: whether to create the demo account (and
// print its root key) on start.
type demoMode string

const (
	// demoAuto creates it only on a new SQLite database: the first
	// `keys serve` of someone trying the project, never a production
	// database (PostgreSQL, or a SQLite file already in use).
	demoAuto  demoMode = "auto"
	demoTrue  demoMode = "true"
	demoFalse demoMode = "false"
)

// String implements flag.Value.
func (d *demoMode) String() string { return string(*d) }

// Set implements flag.Value.
func (d *demoMode) Set(s string) error {
	switch demoMode(s) {
	case demoAuto, demoTrue, demoFalse:
		*d = demoMode(s)
		return nil
	}
	return fmt.Errorf("want auto, true or false")
}

// wanted reports whether serve creates the demo account, given whether
// the database is a SQLite file that holds no database yet.
func (d demoMode) wanted(newSQLite bool) bool {
	switch d {
	case demoTrue:
		return true
	case demoAuto:
		return newSQLite
	}
	return false
}
