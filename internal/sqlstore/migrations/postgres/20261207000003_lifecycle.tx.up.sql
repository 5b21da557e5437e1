-- Issue 12: scopes, metadata and allowed networks of a key, as JSON text
-- (NULL = none), and indexes for rotation with a grace period.
ALTER TABLE keys_api_keys ADD COLUMN scopes text;
--bun:split
ALTER TABLE keys_api_keys ADD COLUMN metadata text;
--bun:split
ALTER TABLE keys_api_keys ADD COLUMN allowed_networks text;
--bun:split
-- A retiring key has a future revoked_at. A reissue or revocation finds the
-- account's retiring keys through its retiring roots (few: this index holds
-- roots only) and their children by root_key_id. That index is full, not
-- partial on revoked_at IS NULL as before, so revoking a key no longer
-- touches it: a reissue over 10,000 children writes no more index entries
-- than it did.
CREATE INDEX keys_api_keys_roots_by_account_revoked
    ON keys_api_keys (account_id, revoked_at) WHERE is_root;
--bun:split
CREATE INDEX keys_api_keys_by_root
    ON keys_api_keys (root_key_id);
--bun:split
DROP INDEX keys_api_keys_unrevoked_by_root;
