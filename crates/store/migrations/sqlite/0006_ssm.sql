-- Parameter Store. A parameter is a head row (tier, tags, latest version, an optimistic revision
-- bumped by every write) and up to 100 version rows. SecureString values are stored only as KMS
-- ciphertext blobs; String and StringList values are not secret.
CREATE TABLE ssm_parameters (
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,
    name           TEXT NOT NULL,
    tier           TEXT NOT NULL,
    tags           TEXT NOT NULL,    -- JSON array of [key, value]
    latest_version INTEGER NOT NULL,
    revision       INTEGER NOT NULL, -- optimistic concurrency for every write to the parameter
    PRIMARY KEY (account_id, region, name)
);

CREATE TABLE ssm_parameter_versions (
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    param_type      TEXT NOT NULL,
    value           BLOB NOT NULL,   -- SecureString: the KMS ciphertext blob
    description     TEXT,
    allowed_pattern TEXT,
    data_type       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    key_id          TEXT,
    modified_ms     INTEGER NOT NULL,
    modified_user   TEXT NOT NULL,
    PRIMARY KEY (account_id, region, name, version)
);

-- A label names one version of one parameter at a time: the key makes that so.
CREATE TABLE ssm_parameter_labels (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    name       TEXT NOT NULL,
    label      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, name, label)
);
CREATE INDEX ssm_parameter_labels_by_version ON ssm_parameter_labels (account_id, region, name, version);
