-- Audit retention: signed checkpoints. Before events older than the retention period are
-- pruned, a checkpoint is written naming the last pruned position and its chain hash, signed
-- with the audit signing key; the chain is verified from the newest checkpoint onward. Each
-- checkpoint names the previous one's hash and signature, so they form a chain of their own.
CREATE TABLE audit_checkpoints (
    seq         INTEGER PRIMARY KEY,
    created_ms  INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL,   -- events up to this chain position may be pruned
    body        TEXT NOT NULL,         -- the checkpoint JSON, exactly the signed bytes
    signature   BLOB NOT NULL
);
