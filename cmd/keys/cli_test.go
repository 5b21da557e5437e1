package main

import "testing"

func TestDSNs(t *testing.T) {
	for _, tc := range []struct {
		db       string
		postgres bool
		logged   string
	}{
		{"keys.db", false, "keys.db"},
		{"/var/lib/keys/keys.db", false, "/var/lib/keys/keys.db"},
		{"file=with=equals.db", false, "file=with=equals.db"},
		{"postgres://app:s3cret@db:5432/keys", true, "postgres://app:xxxxx@db:5432/keys"},
		{"postgresql://db/keys", true, "postgresql://db/keys"},
		{"host=db dbname=keys password=s3cret", true, "host=db dbname=keys password=xxxxx"},
	} {
		if got := isPostgres(tc.db); got != tc.postgres {
			t.Errorf("isPostgres(%q) = %v", tc.db, got)
		}
		if got := redactDSN(tc.db); got != tc.logged {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.db, got, tc.logged)
		}
	}
}
