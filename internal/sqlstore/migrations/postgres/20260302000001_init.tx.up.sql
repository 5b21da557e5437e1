-- Times are timestamptz (microsecond precision, read back in UTC).
CREATE TABLE keys_accounts (
    id             text        NOT NULL PRIMARY KEY,
    tier           text        NOT NULL,
    email_verified boolean     NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
--bun:split
CREATE TABLE keys_api_keys (
    id                  uuid        NOT NULL PRIMARY KEY,
    account_id          text        NOT NULL REFERENCES keys_accounts (id),
    root_key_id         uuid        NOT NULL REFERENCES keys_api_keys (id),
    hash                bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    prefix              text        NOT NULL,
    name                text        NOT NULL DEFAULT '',
    is_root             boolean     NOT NULL,
    created_at          timestamptz NOT NULL,
    last_used_at        timestamptz,
    expires_at          timestamptz,
    revoked_at          timestamptz,
    requests_per_month  bigint,
    requests_per_minute bigint,
    -- A root key is its own root; a child never is.
    CHECK (is_root = (id = root_key_id))
);
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
    key_id uuid   NOT NULL,
    month  text   NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (key_id, month)
);
--bun:split
CREATE TABLE keys_account_usage (
    account_id text   NOT NULL,
    month      text   NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (account_id, month)
);
