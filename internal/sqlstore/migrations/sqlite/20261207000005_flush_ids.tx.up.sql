-- AddUsage records each flush's ID in the transaction that adds its
-- counts, so that a retry of a flush whose reply was lost adds nothing.
-- applied_at is INTEGER Unix microseconds; IDs older than
-- store.FlushIDRetention are pruned by AddUsage.
CREATE TABLE keys_usage_flushes (
    id         TEXT    NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
--bun:split
CREATE INDEX keys_usage_flushes_by_time ON keys_usage_flushes (applied_at);
--bun:split
-- The change feed (SQLite has no NOTIFY): every change a Notifier reports
-- appends the account here in its own transaction, and every Store's
-- Subscribe polls for rows past the last seq it saw, whichever process
-- wrote them. Rows older than ten minutes are pruned as new ones come.
CREATE TABLE keys_changes (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    account_id TEXT    NOT NULL,
    at         INTEGER NOT NULL
) STRICT;
