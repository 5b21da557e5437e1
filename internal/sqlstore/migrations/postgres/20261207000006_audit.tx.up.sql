-- Issue 15 (audit trail and events).
--
-- Audit events: every change method writes its event in the transaction of
-- the change. Events outlive their account (no foreign key), so that a
-- deleted account's history stays until the host prunes it. key_id is the
-- nil UUID for an event about no key; data is a JSON object as text (text,
-- not jsonb, so that no escaped character can make the change fail).
CREATE TABLE keys_audit_events (
    id          uuid        NOT NULL PRIMARY KEY,
    account_id  text        NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    key_id      uuid        NOT NULL,
    actor_type  text        NOT NULL,
    actor_id    text        NOT NULL,
    ip          text        NOT NULL,
    user_agent  text        NOT NULL,
    data        text        NOT NULL
);
--bun:split
-- AuditEvents pages an account's events newest first.
CREATE INDEX keys_audit_events_by_account ON keys_audit_events (account_id, occurred_at DESC, id DESC);
--bun:split
-- ListExpiringKeys finds the keys of every account whose expiry
-- falls in a window, in (expires_at, id) order, for the Manager's
-- key.expiring notices. Partial: keys without an expiry (most of them)
-- cost the index nothing, and revoking a key does not touch it.
CREATE INDEX keys_api_keys_by_expiry
    ON keys_api_keys (expires_at, id) WHERE expires_at IS NOT NULL;
