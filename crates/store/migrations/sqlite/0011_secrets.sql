-- Secrets Manager. A secret is a head row (metadata, tags, resource policy, deletion schedule, an
-- optimistic revision bumped by every write) and its version rows. Values are stored only as KMS
-- ciphertext blobs, encrypted by the Secrets Manager service before they reach the store.
CREATE TABLE sm_secrets (
    account_id       TEXT NOT NULL,
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    arn              TEXT NOT NULL,
    description      TEXT,
    kms_key_id       TEXT,            -- as the caller named it; NULL = alias/aws/secretsmanager
    tags             TEXT NOT NULL,   -- JSON array of [key, value]
    resource_policy  TEXT,
    created_ms       INTEGER NOT NULL,
    last_changed_ms  INTEGER NOT NULL,
    last_accessed_ms INTEGER,         -- a day (UTC midnight), as AWS reports it
    deleted_ms       INTEGER,         -- when deletion was requested (DeletedDate)
    purge_ms         INTEGER,         -- when the scheduler removes it
    revision         INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, name)
);
CREATE UNIQUE INDEX sm_secrets_arn ON sm_secrets (arn);
CREATE INDEX sm_secrets_purge ON sm_secrets (purge_ms) WHERE purge_ms IS NOT NULL;

CREATE TABLE sm_secret_versions (
    account_id       TEXT NOT NULL,
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    version_id       TEXT NOT NULL,
    stages           TEXT NOT NULL,   -- JSON array of staging labels; [] = deprecated
    created_ms       INTEGER NOT NULL,
    last_accessed_ms INTEGER,
    kind             TEXT NOT NULL,   -- 'string' or 'binary'
    kms_key_arn      TEXT NOT NULL,
    ciphertext       BLOB NOT NULL,   -- the KMS ciphertext blob of the value
    PRIMARY KEY (account_id, region, name, version_id),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);
