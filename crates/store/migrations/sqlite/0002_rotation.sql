-- Key rotation: the schedule lives on the key; each material version records how it came to be.
ALTER TABLE kms_keys ADD COLUMN rotation_period_days INTEGER;  -- set while automatic rotation is on
ALTER TABLE kms_keys ADD COLUMN next_rotation_ms INTEGER;
CREATE INDEX kms_keys_by_next_rotation ON kms_keys (next_rotation_ms) WHERE next_rotation_ms IS NOT NULL;

ALTER TABLE kms_key_materials ADD COLUMN rotation_type TEXT;   -- NULL for the key's first material
