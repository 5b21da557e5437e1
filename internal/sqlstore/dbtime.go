package sqlstore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// dbTime is a nullable time column. It writes itself as Unix microseconds in
// SQLite and as a timestamptz literal in PostgreSQL, and reads either form
// back in UTC, truncated to the microsecond, so a value survives a round
// trip exactly and compares in SQL the way it compares in Go.
type dbTime struct {
	T     time.Time // the time, when Valid
	Valid bool      // false for NULL
}

var (
	_ schema.QueryAppender         = dbTime{}
	_ interface{ Scan(any) error } = (*dbTime)(nil)
)

// someTime returns the column value of t.
func someTime(t time.Time) dbTime { return dbTime{T: t, Valid: true} }

// optTime returns the column value of t, NULL when t is nil.
func optTime(t *time.Time) dbTime {
	if t == nil {
		return dbTime{}
	}
	return someTime(*t)
}

// ptr returns the value as a *time.Time, nil for NULL.
func (t dbTime) ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.T
	return &v
}

// pgTimeLayout keeps exactly microseconds: PostgreSQL would round a seventh
// fractional digit, Go's Truncate does not.
const pgTimeLayout = "2006-01-02 15:04:05.999999Z07:00"

// AppendQuery implements schema.QueryAppender; bun calls it both for model
// fields and for query arguments.
func (t dbTime) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	if !t.Valid {
		return append(b, "NULL"...), nil
	}
	switch gen.Dialect().Name() {
	case dialect.SQLite:
		return strconv.AppendInt(b, t.T.UnixMicro(), 10), nil
	case dialect.PG:
		b = append(b, '\'')
		b = t.T.UTC().AppendFormat(b, pgTimeLayout)
		return append(b, "'::timestamptz"...), nil
	default:
		return nil, fmt.Errorf("sqlstore: no time encoding for dialect %s", gen.Dialect().Name())
	}
}

// Scan implements sql.Scanner for the SQLite (int64) and PostgreSQL
// (time.Time) forms.
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = dbTime{}
	case int64:
		*t = someTime(time.UnixMicro(v).UTC())
	case time.Time:
		*t = someTime(v.UTC().Truncate(time.Microsecond))
	default:
		return fmt.Errorf("sqlstore: cannot read a time from %T", src)
	}
	return nil
}
