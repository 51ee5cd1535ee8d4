-- KMS grants. A grant belongs to a key (and goes with it); the token is kept only as a hash.
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
    created_ms         INTEGER NOT NULL,
    token_hash         BLOB NOT NULL,
    PRIMARY KEY (account_id, region, key_id, grant_id)
);
CREATE UNIQUE INDEX kms_grants_by_token ON kms_grants (token_hash);
CREATE INDEX kms_grants_by_retiring ON kms_grants (region, retiring_principal)
    WHERE retiring_principal IS NOT NULL;
