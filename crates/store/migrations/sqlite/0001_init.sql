-- Trent's embedded schema. Every secret column holds barrier ciphertext, never plaintext.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    secret        BLOB NOT NULL           -- barrier ciphertext
);

CREATE TABLE kms_keys (
    account_id          TEXT NOT NULL,
    region              TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    seq                 INTEGER NOT NULL, -- creation order, for stable ListKeys pagination
    description         TEXT NOT NULL,
    key_spec            TEXT NOT NULL,
    key_usage           TEXT NOT NULL,
    origin              TEXT NOT NULL,
    key_manager         TEXT NOT NULL,
    state               TEXT NOT NULL,
    created_ms          INTEGER NOT NULL,
    deletion_ms         INTEGER,
    pending_window_days INTEGER,
    policy              TEXT NOT NULL,
    tags                TEXT NOT NULL,    -- JSON array of [key, value]
    current_material_id TEXT NOT NULL,
    multi_region        INTEGER NOT NULL,
    version             INTEGER NOT NULL, -- optimistic concurrency
    PRIMARY KEY (account_id, region, key_id)
);
CREATE INDEX kms_keys_by_seq ON kms_keys (account_id, region, seq);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_ms) WHERE deletion_ms IS NOT NULL;

CREATE TABLE kms_key_materials (
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    material_id TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    material    BLOB NOT NULL,            -- barrier ciphertext
    PRIMARY KEY (account_id, region, key_id, material_id)
);

CREATE TABLE kms_aliases (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, alias_name)
);
CREATE INDEX kms_aliases_by_key ON kms_aliases (account_id, region, key_id);
