-- Trent's schema on PostgreSQL: the tables of the embedded store (migrations/sqlite), with
-- PostgreSQL's types. Integers are BIGINT (flags too: 0 or 1, as in the embedded store), binary
-- columns BYTEA. Every secret column holds barrier ciphertext, never plaintext.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    secret        BYTEA NOT NULL           -- barrier ciphertext
);
CREATE INDEX access_keys_by_principal ON access_keys (principal_arn);

-- KMS keys. `seq` (creation order, for ListKeys pagination) comes from one sequence: increasing
-- within every scope, whatever the concurrency.
CREATE SEQUENCE kms_keys_seq;
CREATE TABLE kms_keys (
    account_id           TEXT NOT NULL,
    region               TEXT NOT NULL,
    key_id               TEXT NOT NULL,
    seq                  BIGINT NOT NULL DEFAULT nextval('kms_keys_seq'),
    description          TEXT NOT NULL,
    key_spec             TEXT NOT NULL,
    key_usage            TEXT NOT NULL,
    origin               TEXT NOT NULL,
    key_manager          TEXT NOT NULL,
    state                TEXT NOT NULL,
    created_ms           BIGINT NOT NULL,
    deletion_ms          BIGINT,
    pending_window_days  BIGINT,
    policy               TEXT NOT NULL,
    tags                 TEXT NOT NULL,    -- JSON array of [key, value]
    current_material_id  TEXT NOT NULL,
    multi_region         BIGINT NOT NULL,
    version              BIGINT NOT NULL,  -- optimistic concurrency
    rotation_period_days BIGINT,
    next_rotation_ms     BIGINT,
    valid_to_ms          BIGINT,
    expiration_model     TEXT,
    primary_region       TEXT,
    PRIMARY KEY (account_id, region, key_id)
);
CREATE INDEX kms_keys_by_seq ON kms_keys (account_id, region, seq);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_ms) WHERE deletion_ms IS NOT NULL;
CREATE INDEX kms_keys_by_next_rotation ON kms_keys (next_rotation_ms) WHERE next_rotation_ms IS NOT NULL;
CREATE INDEX kms_keys_by_valid_to ON kms_keys (valid_to_ms) WHERE valid_to_ms IS NOT NULL;
CREATE INDEX kms_keys_by_related ON kms_keys (account_id, key_id) WHERE multi_region = 1;

CREATE TABLE kms_key_materials (
    account_id    TEXT NOT NULL,
    region        TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    material_id   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    material      BYTEA NOT NULL,          -- barrier ciphertext
    rotation_type TEXT,                    -- NULL for the key's first material
    -- Insertion order (SQLite's rowid): materials are listed by (created_ms, ord). A re-import
    -- (upsert) keeps the row, and so its place.
    ord           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (account_id, region, key_id, material_id)
);

CREATE TABLE kms_aliases (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, alias_name)
);
CREATE INDEX kms_aliases_by_key ON kms_aliases (account_id, region, key_id);

CREATE TABLE kms_import_parameters (
    account_id         TEXT NOT NULL,
    region             TEXT NOT NULL,
    token_id           TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    token_check        BYTEA NOT NULL,
    wrapping_algorithm TEXT NOT NULL,
    wrapping_key_spec  TEXT NOT NULL,
    created_ms         BIGINT NOT NULL,
    valid_to_ms        BIGINT NOT NULL,
    private_key        BYTEA NOT NULL,     -- barrier ciphertext
    PRIMARY KEY (account_id, region, token_id)
);
CREATE INDEX kms_import_parameters_by_valid_to ON kms_import_parameters (valid_to_ms);
CREATE INDEX kms_import_parameters_by_key ON kms_import_parameters (account_id, region, key_id);

CREATE TABLE kms_key_usage (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    used_ms    BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (account_id, region, key_id)
);

CREATE TABLE kms_grants (
    account_id         TEXT NOT NULL,
    region             TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    grant_id           TEXT NOT NULL,
    name               TEXT,
    grantee_principal  TEXT NOT NULL,
    retiring_principal TEXT,
    operations         TEXT NOT NULL,   -- JSON array of operation names
    constraints        TEXT,            -- JSON GrantConstraints, as given
    issuing_account    TEXT NOT NULL,
    created_ms         BIGINT NOT NULL,
    token_hash         BYTEA NOT NULL,
    PRIMARY KEY (account_id, region, key_id, grant_id)
);
CREATE UNIQUE INDEX kms_grants_by_token ON kms_grants (token_hash);
CREATE INDEX kms_grants_by_retiring ON kms_grants (region, retiring_principal)
    WHERE retiring_principal IS NOT NULL;

-- Parameter Store: heads, versions, labels, and the event outbox.
CREATE TABLE ssm_parameters (
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,
    name           TEXT NOT NULL,
    tier           TEXT NOT NULL,
    tags           TEXT NOT NULL,    -- JSON array of [key, value]
    latest_version BIGINT NOT NULL,
    revision       BIGINT NOT NULL,  -- optimistic concurrency for every write to the parameter
    policies       TEXT NOT NULL DEFAULT '[]',
    policy_due_ms  BIGINT,
    PRIMARY KEY (account_id, region, name)
);
CREATE INDEX ssm_parameters_by_policy_due ON ssm_parameters (policy_due_ms)
    WHERE policy_due_ms IS NOT NULL;
CREATE INDEX ssm_parameters_by_tier ON ssm_parameters (account_id, region, tier);
-- Path listings scan names in byte order.
CREATE INDEX ssm_parameters_by_name ON ssm_parameters (account_id, region, name COLLATE "C");

CREATE TABLE ssm_parameter_versions (
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    param_type      TEXT NOT NULL,
    value           BYTEA NOT NULL,  -- SecureString: the KMS ciphertext blob
    description     TEXT,
    allowed_pattern TEXT,
    data_type       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    key_id          TEXT,
    modified_ms     BIGINT NOT NULL,
    modified_user   TEXT NOT NULL,
    policies        TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (account_id, region, name, version)
);

CREATE TABLE ssm_parameter_labels (
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    name       TEXT NOT NULL,
    label      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, name, label)
);
CREATE INDEX ssm_parameter_labels_by_version ON ssm_parameter_labels (account_id, region, name, version);

CREATE TABLE ssm_events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    body       TEXT NOT NULL,    -- the EventBridge-shaped JSON; names and types, never values
    acked      TEXT NOT NULL DEFAULT '[]'
);

-- IAM and STS (global: keyed by account). Names of users, roles and policies are unique per
-- account without regard to case, as in AWS: the unique indexes are on lower(name COLLATE "C"),
-- and lookups compare that. "C" folds A-Z only, whatever the database's locale: exactly SQLite's
-- NOCASE (a locale's lower() would also fold non-ASCII letters, and a Turkish one 'I' to 'ı').
CREATE TABLE iam_accounts (
    account_id TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL
);

CREATE TABLE iam_users (
    account_id TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    user_id    TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    tags       TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_users_by_name ON iam_users (account_id, lower(user_name COLLATE "C"));

CREATE TABLE iam_roles (
    account_id           TEXT NOT NULL,
    role_name            TEXT NOT NULL,
    role_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration BIGINT NOT NULL,
    created_ms           BIGINT NOT NULL,
    tags                 TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_roles_by_name ON iam_roles (account_id, lower(role_name COLLATE "C"));

CREATE TABLE iam_inline_policies (
    account_id     TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    policy_name    TEXT NOT NULL,
    document       TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_inline_policies_by_name
    ON iam_inline_policies (account_id, principal_kind, lower(principal_name COLLATE "C"),
        lower(policy_name COLLATE "C"));

CREATE TABLE iam_managed_policies (
    account_id  TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    policy_id   TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL,
    arn         TEXT NOT NULL UNIQUE,
    document    TEXT NOT NULL,
    description TEXT,
    created_ms  BIGINT NOT NULL,
    tags        TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_managed_policies_by_name ON iam_managed_policies (account_id, lower(policy_name COLLATE "C"));

CREATE TABLE iam_attachments (
    account_id     TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    policy_arn     TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_attachments_by_principal
    ON iam_attachments (account_id, principal_kind, lower(principal_name COLLATE "C"), policy_arn);
CREATE INDEX iam_attachments_by_policy ON iam_attachments (policy_arn);

CREATE TABLE sts_sessions (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    role_name     TEXT NOT NULL,
    session_name  TEXT NOT NULL,
    token_sha256  BYTEA NOT NULL,
    secret        BYTEA NOT NULL,     -- barrier ciphertext
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    session_tags  TEXT NOT NULL,
    source_arn    TEXT NOT NULL
);
CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires_ms);

-- Secrets Manager.
CREATE TABLE sm_secrets (
    account_id       TEXT NOT NULL,
    region           TEXT NOT NULL,
    name             TEXT NOT NULL,
    arn              TEXT NOT NULL,
    description      TEXT,
    kms_key_id       TEXT,
    tags             TEXT NOT NULL,
    resource_policy  TEXT,
    created_ms       BIGINT NOT NULL,
    last_changed_ms  BIGINT NOT NULL,
    last_accessed_ms BIGINT,
    deleted_ms       BIGINT,
    purge_ms         BIGINT,
    revision         BIGINT NOT NULL,
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
    created_ms       BIGINT NOT NULL,
    last_accessed_ms BIGINT,
    kind             TEXT NOT NULL,   -- 'string' or 'binary'
    kms_key_arn      TEXT NOT NULL,
    ciphertext       BYTEA NOT NULL,  -- the KMS ciphertext blob of the value
    -- Insertion order, SQLite's rowid: versions created in the same millisecond are listed
    -- oldest first.
    seq              BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (account_id, region, name, version_id),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);

CREATE TABLE sm_rotation (
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    name            TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    lambda_arn      TEXT,
    rules           TEXT NOT NULL,
    last_rotated_ms BIGINT,
    window_start_ms BIGINT,
    window_end_ms   BIGINT,
    token           TEXT,
    rotation_token  TEXT,
    step            TEXT,
    state           TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_failure    TEXT,
    last_failure_ms BIGINT,
    PRIMARY KEY (account_id, region, name),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);
CREATE INDEX sm_rotation_window ON sm_rotation (window_start_ms) WHERE enabled = 1;
CREATE INDEX sm_rotation_running ON sm_rotation (state) WHERE state = 'running';

CREATE TABLE sm_replicas (
    account_id     TEXT NOT NULL,
    region         TEXT NOT NULL,
    name           TEXT NOT NULL,
    replica_region TEXT NOT NULL,
    kms_key_id     TEXT,
    status         TEXT NOT NULL,
    status_message TEXT,
    present        BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, name, replica_region),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);
CREATE INDEX sm_replicas_replica ON sm_replicas (account_id, replica_region, name);

-- The audit trail: one hash chain over every account and every node. A node appends a batch
-- under a transaction-scoped advisory lock after checking the tail it chained from (see
-- docs/audit.md), so the chain has one order whatever the number of writers.
CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    event_time_ms BIGINT NOT NULL,
    event_id      TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    event_source  TEXT NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    read_only     BIGINT NOT NULL,
    resources     TEXT NOT NULL,
    record        TEXT NOT NULL,   -- the CloudTrail record, exactly the hashed bytes
    prev_hash     BYTEA NOT NULL,
    hash          BYTEA NOT NULL
);
CREATE INDEX audit_events_by_account_time ON audit_events (account_id, event_time_ms);
CREATE INDEX audit_events_by_event_id ON audit_events (event_id);

CREATE TABLE audit_digests (
    seq        BIGINT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    first_seq  BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL,
    body       TEXT NOT NULL,
    signature  BYTEA NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq            BIGINT PRIMARY KEY,
    created_ms     BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    body           TEXT NOT NULL,
    signature      BYTEA NOT NULL
);
