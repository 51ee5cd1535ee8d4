-- GetKeyLastUsage: the last successful cryptographic operation per key. Written in batches by
-- the scheduler (and at shutdown), never on the request path.
CREATE TABLE kms_key_usage (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    used_ms    INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (account_id, region, key_id)
);
