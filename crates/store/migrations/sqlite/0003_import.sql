-- Imported key material (keys with Origin EXTERNAL).

-- While material is imported: whether and when it expires. Both NULL while the key waits for
-- material.
ALTER TABLE kms_keys ADD COLUMN valid_to_ms INTEGER;
ALTER TABLE kms_keys ADD COLUMN expiration_model TEXT;
CREATE INDEX kms_keys_by_valid_to ON kms_keys (valid_to_ms) WHERE valid_to_ms IS NOT NULL;

-- GetParametersForImport: one row per import token. The token carries `token_id` and a secret
-- whose SHA-256 is `token_check`; the RSA wrapping private key never leaves the store unsealed.
CREATE TABLE kms_import_parameters (
    account_id         TEXT NOT NULL,
    region             TEXT NOT NULL,
    token_id           TEXT NOT NULL,
    key_id             TEXT NOT NULL,
    token_check        BLOB NOT NULL,
    wrapping_algorithm TEXT NOT NULL,
    wrapping_key_spec  TEXT NOT NULL,
    created_ms         INTEGER NOT NULL,
    valid_to_ms        INTEGER NOT NULL,
    private_key        BLOB NOT NULL,      -- barrier ciphertext
    PRIMARY KEY (account_id, region, token_id)
);
CREATE INDEX kms_import_parameters_by_valid_to ON kms_import_parameters (valid_to_ms);
CREATE INDEX kms_import_parameters_by_key ON kms_import_parameters (account_id, region, key_id);
