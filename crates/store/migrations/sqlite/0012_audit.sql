-- The audit trail: one row per request, in one hash chain over every account.
--
-- `seq` is the chain position, assigned by the single audit writer; `prev_hash` and `hash` make
-- the chain (hash = SHA-256 over a domain tag, prev_hash, seq and the record's bytes), so an
-- edited, deleted, inserted or reordered row is found by `trent audit verify`. The lookup
-- columns duplicate fields of `record` (the CloudTrail JSON) so LookupEvents filters by index.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    account_id    TEXT NOT NULL,
    event_time_ms INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    event_source  TEXT NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    read_only     INTEGER NOT NULL,
    resources     TEXT NOT NULL,   -- JSON array of {"type", "ARN"}
    record        TEXT NOT NULL,   -- the CloudTrail record, exactly the hashed bytes
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL
);
CREATE INDEX audit_events_by_account_time ON audit_events (account_id, event_time_ms);
CREATE INDEX audit_events_by_event_id ON audit_events (event_id);

-- Signed digests: each covers the events after the previous digest up to `last_seq`, names the
-- chain hash there and the previous digest's hash, and is signed with the audit signing key
-- (its private half sealed by the barrier in `meta`).
CREATE TABLE audit_digests (
    seq        INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    body       TEXT NOT NULL,      -- the digest JSON, exactly the signed bytes
    signature  BLOB NOT NULL
);
