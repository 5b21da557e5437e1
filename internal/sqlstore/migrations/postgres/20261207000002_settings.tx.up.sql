-- Facts the store keeps about itself, written once (InitSetting), such as
-- the fingerprint of the pepper its key hashes were made with.
CREATE TABLE keys_settings (
    name  text NOT NULL PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 128),
    value text NOT NULL
);
--bun:split
-- PruneRevoked finds revoked keys by revocation time.
CREATE INDEX keys_api_keys_revoked
    ON keys_api_keys (revoked_at) WHERE revoked_at IS NOT NULL;
--bun:split
-- Deleting a root checks its children (the foreign key and PruneRevoked's
-- own check), revoked ones included: without this index every deleted key
-- would scan the table.
CREATE INDEX keys_api_keys_by_root
    ON keys_api_keys (root_key_id);
