-- Parameter policies and the Parameter Store event outbox.
--
-- A parameter's live policies (JSON: text, type, status, due time) sit on its head, with the
-- earliest time one of them is due, so the scheduler finds due parameters through an index
-- instead of scanning. Each version keeps the policies it was written with (GetParameterHistory).
ALTER TABLE ssm_parameters ADD COLUMN policies TEXT NOT NULL DEFAULT '[]';
ALTER TABLE ssm_parameters ADD COLUMN policy_due_ms INTEGER;
CREATE INDEX ssm_parameters_by_policy_due ON ssm_parameters (policy_due_ms)
    WHERE policy_due_ms IS NOT NULL;
CREATE INDEX ssm_parameters_by_tier ON ssm_parameters (account_id, region, tier);
ALTER TABLE ssm_parameter_versions ADD COLUMN policies TEXT NOT NULL DEFAULT '[]';

-- The outbox: every change event is written in the transaction that makes the change, and
-- deleted only once every configured target has acknowledged it, so an event survives crashes,
-- restarts and targets that are down. `acked` lists the targets that already have it (JSON array)
-- so a retry does not deliver it twice to a target that took it.
CREATE TABLE ssm_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body       TEXT NOT NULL,    -- the EventBridge-shaped JSON; names and types, never values
    acked      TEXT NOT NULL DEFAULT '[]'
);
