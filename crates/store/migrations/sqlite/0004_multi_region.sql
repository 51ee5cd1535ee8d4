-- Multi-Region keys: related keys share the key id across regions of one account; each records
-- the region of the set's primary key (NULL for single-Region keys).
ALTER TABLE kms_keys ADD COLUMN primary_region TEXT;
CREATE INDEX kms_keys_by_related ON kms_keys (account_id, key_id) WHERE multi_region = 1;
