-- Issue 12: scopes, metadata and allowed networks of a key, as JSON text
-- (NULL = none), and an index for rotation with a grace period: a retiring
-- key has a future revoked_at, and a reissue or revocation changes the
-- account's retiring keys by (account_id, revoked_at > now).
ALTER TABLE keys_api_keys ADD COLUMN scopes text;
--bun:split
ALTER TABLE keys_api_keys ADD COLUMN metadata text;
--bun:split
ALTER TABLE keys_api_keys ADD COLUMN allowed_networks text;
--bun:split
CREATE INDEX keys_api_keys_by_account_revoked
    ON keys_api_keys (account_id, revoked_at);
--bun:split
-- ListAccounts pages in byte order whatever the database's collation.
CREATE INDEX keys_accounts_by_id_bytes
    ON keys_accounts (id COLLATE "C");
--bun:split
-- (account_id, revoked_at) serves "revoked_at IS NULL" as well, so the
-- partial index of unrevoked keys by account only cost writes now.
DROP INDEX keys_api_keys_unrevoked_by_account;
