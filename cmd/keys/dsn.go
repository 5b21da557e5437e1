package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgKeyword matches a libpq keyword/value pair that only a PostgreSQL DSN
// has, spaces around "=" allowed ("host = db" is as valid as "host=db").
var pgKeyword = regexp.MustCompile(`(^|\s)(host|hostaddr|port|dbname|user|password|passfile|sslmode|service|connect_timeout)\s*=`)

// isPostgres reports whether db names a PostgreSQL database (a
// postgres:// URL or a keyword/value DSN such as "host=db dbname=keys")
// rather than a SQLite file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") || pgKeyword.MatchString(db)
}

// errBadDSN is what a PostgreSQL DSN that does not parse gets. It quotes
// nothing of the DSN: the parser's own errors may contain the password
// (url.Parse's error repeats the whole URL).
var errBadDSN = usageError{"-db: not a valid PostgreSQL connection string (want postgres://user@host:5432/db or host=… dbname=…)"}

// redactDSN is db as it may be logged or printed: a SQLite path as it is;
// for PostgreSQL only host, port, database and user, as pgx's own parser
// reads them, so no spelling of a password (in the URL's user info, as a
// ?password= parameter, quoted, with spaces around "=") can slip through.
// A DSN the parser refuses is shown as a placeholder.
func redactDSN(db string) string {
	if !isPostgres(db) {
		return db
	}
	cfg, err := pgconn.ParseConfig(db)
	if err != nil {
		return "postgres (unparsable DSN)"
	}
	return fmt.Sprintf("postgres host=%s port=%d database=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// checkDSN refuses a PostgreSQL DSN that pgx cannot parse before anything
// tries to connect, with an error that holds none of it.
func checkDSN(db string) error {
	if !isPostgres(db) {
		return nil
	}
	if _, err := pgconn.ParseConfig(db); err != nil {
		return errBadDSN
	}
	return nil
}
