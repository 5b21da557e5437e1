package sqlitestore

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keys/internal/sqlstore"
)

// classify tells the core which driver errors are constraint failures.
// modernc's errors carry the extended result code; for a caller's *bun.DB
// over another SQLite driver it falls back on SQLite's own messages, which
// every driver passes on.
func classify(err error) sqlstore.ErrorKind {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return sqlstore.UniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return sqlstore.ForeignKeyViolation
		}
		return sqlstore.OtherError
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return sqlstore.UniqueViolation
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.OtherError
}
