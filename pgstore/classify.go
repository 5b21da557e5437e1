package pgstore

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keys/internal/sqlstore"
)

// SQLSTATE codes the store acts on.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// classify tells the core which PostgreSQL errors are constraint failures
// and which transactions may be run again, by SQLSTATE.
func classify(err error) sqlstore.ErrorKind {
	var code string
	var pe *pgconn.PgError
	var fielder interface{ Field(byte) string }
	switch {
	case errors.As(err, &pe):
		code = pe.Code
	case errors.As(err, &fielder):
		// bun's own pgdriver, for a caller's *bun.DB: 'C' is the
		// SQLSTATE field of the protocol's ErrorResponse.
		code = fielder.Field('C')
	}
	switch code {
	case uniqueViolation:
		return sqlstore.UniqueViolation
	case foreignKeyViolation:
		return sqlstore.ForeignKeyViolation
	case serializationFailure, deadlockDetected:
		return sqlstore.Retryable
	}
	return sqlstore.OtherError
}
