-- IAM and STS. IAM is global: every table is keyed by account, never by region. Names of users,
-- roles and policies are unique per account without regard to case, as in AWS. Access keys of
-- users and account roots stay in `access_keys` (secret sealed by the barrier).
CREATE TABLE iam_accounts (
    account_id TEXT PRIMARY KEY NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE iam_users (
    account_id TEXT NOT NULL,
    user_name  TEXT NOT NULL COLLATE NOCASE,
    user_id    TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    arn        TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    tags       TEXT NOT NULL,    -- JSON array of [key, value]
    PRIMARY KEY (account_id, user_name)
);

CREATE TABLE iam_roles (
    account_id           TEXT NOT NULL,
    role_name            TEXT NOT NULL COLLATE NOCASE,
    role_id              TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration INTEGER NOT NULL,
    created_ms           INTEGER NOT NULL,
    tags                 TEXT NOT NULL,    -- JSON array of [key, value]
    PRIMARY KEY (account_id, role_name)
);

-- Inline policies of users and roles (`principal_kind` is `user` or `role`).
CREATE TABLE iam_inline_policies (
    account_id     TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL COLLATE NOCASE,
    policy_name    TEXT NOT NULL COLLATE NOCASE,
    document       TEXT NOT NULL,
    PRIMARY KEY (account_id, principal_kind, principal_name, policy_name)
);

-- Customer managed policies (one version each).
CREATE TABLE iam_managed_policies (
    account_id  TEXT NOT NULL,
    policy_name TEXT NOT NULL COLLATE NOCASE,
    policy_id   TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL,
    arn         TEXT NOT NULL UNIQUE,
    document    TEXT NOT NULL,
    description TEXT,
    created_ms  INTEGER NOT NULL,
    tags        TEXT NOT NULL,
    PRIMARY KEY (account_id, policy_name)
);

CREATE TABLE iam_attachments (
    account_id     TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL COLLATE NOCASE,
    policy_arn     TEXT NOT NULL,
    PRIMARY KEY (account_id, principal_kind, principal_name, policy_arn)
);
CREATE INDEX iam_attachments_by_policy ON iam_attachments (policy_arn);

CREATE INDEX access_keys_by_principal ON access_keys (principal_arn);

-- Temporary credentials issued by STS AssumeRole. The secret is barrier ciphertext; the session
-- token is kept only as its SHA-256.
CREATE TABLE sts_sessions (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL,
    role_name     TEXT NOT NULL,
    session_name  TEXT NOT NULL,
    token_sha256  BLOB NOT NULL,
    secret        BLOB NOT NULL,     -- barrier ciphertext
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    session_tags  TEXT NOT NULL,     -- JSON array of [key, value]
    source_arn    TEXT NOT NULL      -- who assumed the role
);
CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires_ms);
