package main

import (
	"strings"
	"testing"
)

// TestRedactDSN checks that no spelling of a PostgreSQL password reaches
// the log line: only host, port, database and user, as pgx reads them.
func TestRedactDSN(t *testing.T) {
	const pw = "s3cret"
	for _, tc := range []struct {
		name, db string
		want     string // "" = the secret-free placeholder of a DSN pgx refuses
	}{
		{"URL user info", "postgres://app:" + pw + "@db:5432/keys", "postgres host=db port=5432 database=keys user=app"},
		{"postgresql URL", "postgresql://app@db/keys", "postgres host=db port=5432 database=keys user=app"},
		{"URL query password", "postgres://app@db:6000/keys?sslmode=disable&password=" + pw, "postgres host=db port=6000 database=keys user=app"},
		{"URL both", "postgres://app:" + pw + "@db/keys?password=" + pw + "x", "postgres host=db port=5432 database=keys user=app"},
		{"keyword/value", "host=db dbname=keys user=app password=" + pw, "postgres host=db port=5432 database=keys user=app"},
		{"quoted", "host=db dbname=keys user=app password='" + pw + " words'", "postgres host=db port=5432 database=keys user=app"},
		{"spaced", "host = db dbname = keys user = app password = " + pw, "postgres host=db port=5432 database=keys user=app"},
		{"spaced and quoted", "password = '" + pw + " x' host=db port = 7000 dbname=keys user=app", "postgres host=db port=7000 database=keys user=app"},
		{"escaped quote", `host=db dbname=keys user=app password='` + pw + `\' more'`, "postgres host=db port=5432 database=keys user=app"},
		{"invalid URL", "postgres://app:" + pw + "@db:notaport/keys", ""},
		{"invalid keyword/value", "host=db password='" + pw + " unterminated", ""},
		{"invalid port, spaced", "host=db port = x password = " + pw, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !isPostgres(tc.db) {
				t.Fatalf("isPostgres(%q) = false", tc.db)
			}
			got := redactDSN(tc.db)
			if strings.Contains(got, pw) {
				t.Fatalf("redactDSN(%q) = %q: the password leaks", tc.db, got)
			}
			want := tc.want
			if want == "" {
				want = "postgres (unparsable DSN)"
			}
			if got != want {
				t.Errorf("redactDSN(%q) = %q, want %q", tc.db, got, want)
			}
			err := checkDSN(tc.db)
			if (err != nil) != (tc.want == "") {
				t.Errorf("checkDSN(%q) = %v", tc.db, err)
			}
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Errorf("checkDSN's error %q holds the password", err)
			}
		})
	}
}

// TestSQLitePaths checks that file paths are not taken for PostgreSQL and
// are logged as they are.
func TestSQLitePaths(t *testing.T) {
	for _, db := range []string{"keys.db", "/var/lib/keys/keys.db", "file=with=equals.db", "./dbname", "hosts.db"} {
		if isPostgres(db) {
			t.Errorf("isPostgres(%q) = true", db)
		}
		if redactDSN(db) != db {
			t.Errorf("redactDSN(%q) = %q", db, redactDSN(db))
		}
	}
}

// TestBadDSNPrintsNoSecret runs commands on DSNs pgx refuses: exit 2, and
// nothing of the password on either stream.
func TestBadDSNPrintsNoSecret(t *testing.T) {
	const pw = "hunter2hunter2"
	for _, db := range []string{
		"postgres://app:" + pw + "@db:notaport/keys",
		"host=db password = '" + pw + " unterminated",
		"host=db port=x password=" + pw,
	} {
		for _, args := range [][]string{
			{"list", "-account", "a"},
			{"account", "create", "-id", "a"},
			{"serve", "-addr", "127.0.0.1:0"},
		} {
			code, out, errOut := runIn(t, "", "", append(args, "-db", db)...)
			if code != exitUsage || strings.Contains(out+errOut, pw) || !strings.Contains(errOut, "not a valid PostgreSQL connection string") {
				t.Errorf("keys %v -db %q: exit %d, stdout %q, stderr %q", args, db, code, out, errOut)
			}
		}
	}
}
