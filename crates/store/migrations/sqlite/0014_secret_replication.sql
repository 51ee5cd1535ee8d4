-- Secrets Manager replication. One row per replica region of a primary secret, beside the
-- primary's head row (and removed with it). The replica itself is an ordinary secret row in the
-- replica region (same name, same ARN suffix) that the Secrets Manager service writes only from
-- the primary, in the same transaction as the primary's own change.
CREATE TABLE sm_replicas (
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,     -- the primary's region
    name           TEXT NOT NULL,
    replica_region TEXT NOT NULL,
    kms_key_id     TEXT,              -- as the caller named it; NULL = alias/aws/secretsmanager
    status         TEXT NOT NULL,     -- InSync | Failed | InProgress
    status_message TEXT,
    present        INTEGER NOT NULL,  -- 1 when the secret of this name in replica_region is the replica
    PRIMARY KEY (account_id, region, name, replica_region),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);
CREATE INDEX sm_replicas_replica ON sm_replicas (account_id, replica_region, name);
