-- Times are INTEGER Unix microseconds (UTC); booleans are 0/1. STRICT
-- tables make SQLite refuse a value of the wrong type instead of storing it.
CREATE TABLE keys_accounts (
    id             TEXT    NOT NULL PRIMARY KEY,
    tier           TEXT    NOT NULL,
    email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
--bun:split
CREATE TABLE keys_api_keys (
    id                  TEXT    NOT NULL PRIMARY KEY,
    account_id          TEXT    NOT NULL REFERENCES keys_accounts (id),
    root_key_id         TEXT    NOT NULL REFERENCES keys_api_keys (id),
    hash                BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix              TEXT    NOT NULL,
    name                TEXT    NOT NULL DEFAULT '',
    is_root             INTEGER NOT NULL CHECK (is_root IN (0, 1)),
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER,
    expires_at          INTEGER,
    revoked_at          INTEGER,
    requests_per_month  INTEGER,
    requests_per_minute INTEGER,
    -- A root key is its own root; a child never is.
    CHECK (is_root = (id = root_key_id))
) STRICT;
--bun:split
-- At most one active root key per account, whatever the application does.
CREATE UNIQUE INDEX keys_api_keys_one_active_root
    ON keys_api_keys (account_id) WHERE is_root AND revoked_at IS NULL;
--bun:split
-- ReplaceRootKey revokes every unrevoked key of an account in one UPDATE.
CREATE INDEX keys_api_keys_unrevoked_by_account
    ON keys_api_keys (account_id) WHERE revoked_at IS NULL;
--bun:split
-- RevokeKey of a root revokes its unrevoked children in one UPDATE.
CREATE INDEX keys_api_keys_unrevoked_by_root
    ON keys_api_keys (root_key_id) WHERE revoked_at IS NULL;
--bun:split
-- ListKeys: oldest first, ties broken by ID.
CREATE INDEX keys_api_keys_by_account_created
    ON keys_api_keys (account_id, created_at, id);
--bun:split
-- Usage is a ledger, not a foreign key: counts may name keys that do not
-- exist. month is 'YYYY-MM' in UTC.
CREATE TABLE keys_key_usage (
    key_id TEXT    NOT NULL,
    month  TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key_id, month)
) STRICT, WITHOUT ROWID;
--bun:split
CREATE TABLE keys_account_usage (
    account_id TEXT    NOT NULL,
    month      TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (account_id, month)
) STRICT, WITHOUT ROWID;
