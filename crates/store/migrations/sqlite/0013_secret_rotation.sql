-- Secrets Manager rotation: one row per secret that was ever given a rotation configuration.
-- The configuration (rotator, rules) and the schedule live here, and so does the progress of
-- the rotation under way, written after each step of the four-step protocol, so a process that
-- stops between steps resumes the rotation from the step it had not finished.
CREATE TABLE sm_rotation (
    account_id        TEXT NOT NULL,
    region            TEXT NOT NULL,
    name              TEXT NOT NULL,
    enabled           INTEGER NOT NULL,  -- RotationEnabled
    lambda_arn        TEXT,              -- RotationLambdaARN: names the rotator
    rules             TEXT NOT NULL,     -- JSON: after_days, schedule, duration
    last_rotated_ms   INTEGER,
    window_start_ms   INTEGER,           -- the next rotation window (when enabled)
    window_end_ms     INTEGER,
    -- The rotation under way (AWSPENDING version), if any.
    token             TEXT,              -- ClientRequestToken = the pending version id
    rotation_token    TEXT,              -- the RotationToken given to the rotator
    step              TEXT,              -- the next step to run
    state             TEXT,              -- 'running' or 'failed' (waits for the next window)
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_failure      TEXT,              -- step and reason, never a value
    last_failure_ms   INTEGER,
    PRIMARY KEY (account_id, region, name),
    FOREIGN KEY (account_id, region, name) REFERENCES sm_secrets (account_id, region, name)
        ON DELETE CASCADE
);
CREATE INDEX sm_rotation_window ON sm_rotation (window_start_ms) WHERE enabled = 1;
CREATE INDEX sm_rotation_running ON sm_rotation (state) WHERE state = 'running';
