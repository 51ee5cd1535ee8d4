-- Leases for scheduled jobs: a job runs only on the process holding its lease, so it runs once
-- even when several processes share the store.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
