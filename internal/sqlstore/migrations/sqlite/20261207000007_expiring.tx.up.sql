-- Issue 15: ListExpiringKeys finds the keys of every account whose expiry
-- falls in a window, in (expires_at, id) order, for the Manager's
-- key.expiring notices. Partial: keys without an expiry (most of them)
-- cost the index nothing, and revoking a key does not touch it.
CREATE INDEX keys_api_keys_by_expiry
    ON keys_api_keys (expires_at, id) WHERE expires_at IS NOT NULL;
