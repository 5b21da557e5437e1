-- AddUsage records each flush's ID in the transaction that adds its
-- counts, so that a retry of a flush whose reply was lost adds nothing.
-- IDs older than store.FlushIDRetention are pruned by AddUsage.
CREATE TABLE keys_usage_flushes (
    id         uuid        NOT NULL PRIMARY KEY,
    applied_at timestamptz NOT NULL
);
--bun:split
CREATE INDEX keys_usage_flushes_by_time ON keys_usage_flushes (applied_at);
