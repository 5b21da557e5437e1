package sqlstore

import (
	"database/sql"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/keyward/keys/store"
)

// Table names, prefixed so they do not collide with a host's own tables
// when the store shares the host's database.
const (
	accountsTable     = "keys_accounts"
	keysTable         = "keys_api_keys"
	keyUsageTable     = "keys_key_usage"
	accountUsageTable = "keys_account_usage"
)

// accountRow is the bun model of keys_accounts.
type accountRow struct {
	bun.BaseModel `bun:"table:keys_accounts"`

	ID            string `bun:"id,pk"`
	Tier          string `bun:"tier"`
	EmailVerified bool   `bun:"email_verified"`
	CreatedAt     dbTime `bun:"created_at"`
	UpdatedAt     dbTime `bun:"updated_at"`
}

func newAccountRow(a store.Account) accountRow {
	return accountRow{
		ID:            a.ID,
		Tier:          a.Tier,
		EmailVerified: a.EmailVerified,
		CreatedAt:     someTime(a.CreatedAt),
		UpdatedAt:     someTime(a.UpdatedAt),
	}
}

func (r *accountRow) account() store.Account {
	return store.Account{
		ID:            r.ID,
		Tier:          r.Tier,
		EmailVerified: r.EmailVerified,
		CreatedAt:     r.CreatedAt.T,
		UpdatedAt:     r.UpdatedAt.T,
	}
}

// keyRow is the bun model of keys_api_keys.
type keyRow struct {
	bun.BaseModel `bun:"table:keys_api_keys"`

	ID                uuid.UUID      `bun:"id,pk"`
	AccountID         string         `bun:"account_id"`
	RootKeyID         uuid.UUID      `bun:"root_key_id"`
	Hash              []byte         `bun:"hash"`
	Prefix            string         `bun:"prefix"`
	Name              string         `bun:"name"`
	IsRoot            bool           `bun:"is_root"`
	CreatedAt         dbTime         `bun:"created_at"`
	LastUsedAt        dbTime         `bun:"last_used_at"`
	ExpiresAt         dbTime         `bun:"expires_at"`
	RevokedAt         dbTime         `bun:"revoked_at"`
	RequestsPerMonth  sql.NullInt64  `bun:"requests_per_month"`
	RequestsPerMinute sql.NullInt64  `bun:"requests_per_minute"`
	Scopes            sql.NullString `bun:"scopes"`
	Metadata          sql.NullString `bun:"metadata"`
	AllowedNetworks   sql.NullString `bun:"allowed_networks"`
}

func newKeyRow(k store.Key) keyRow {
	r := keyRow{
		ID:         k.ID,
		AccountID:  k.AccountID,
		RootKeyID:  k.RootKeyID,
		Hash:       k.Hash[:],
		Prefix:     k.Prefix,
		Name:       k.Name,
		IsRoot:     k.IsRoot,
		CreatedAt:  someTime(k.CreatedAt),
		LastUsedAt: optTime(k.LastUsedAt),
		ExpiresAt:  optTime(k.ExpiresAt),
		RevokedAt:  optTime(k.RevokedAt),
	}
	if k.RequestsPerMonth != nil {
		r.RequestsPerMonth = sql.NullInt64{Int64: *k.RequestsPerMonth, Valid: true}
	}
	if k.RequestsPerMinute != nil {
		r.RequestsPerMinute = sql.NullInt64{Int64: int64(*k.RequestsPerMinute), Valid: true}
	}
	r.Scopes, r.Metadata, r.AllowedNetworks = encodeLists(&k)
	return r
}

func (r *keyRow) key() store.Key {
	k := store.Key{
		ID:         r.ID,
		AccountID:  r.AccountID,
		RootKeyID:  r.RootKeyID,
		Prefix:     r.Prefix,
		Name:       r.Name,
		IsRoot:     r.IsRoot,
		CreatedAt:  r.CreatedAt.T,
		LastUsedAt: r.LastUsedAt.ptr(),
		ExpiresAt:  r.ExpiresAt.ptr(),
		RevokedAt:  r.RevokedAt.ptr(),
	}
	copy(k.Hash[:], r.Hash)
	if r.RequestsPerMonth.Valid {
		v := r.RequestsPerMonth.Int64
		k.RequestsPerMonth = &v
	}
	if r.RequestsPerMinute.Valid {
		v := int(r.RequestsPerMinute.Int64)
		k.RequestsPerMinute = &v
	}
	decodeLists(&k, r.Scopes, r.Metadata, r.AllowedNetworks)
	return k
}
