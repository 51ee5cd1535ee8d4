//! Background jobs (key deletion and rotation, parameter policies, secret deletion, audit
//! retention). Each tick runs every due job once; time comes from the injected clock, so
//! tests advance the clock and call [`tick`] instead of sleeping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::State;
use crate::auth::error_chain;

/// The lease that makes one node of those sharing a store the one that runs the jobs.
const SCHEDULER_LEASE: &str = "scheduler";
/// How long the scheduler's lease lasts without renewal (every tick renews it): a node that
/// died hands the jobs to another after this long.
pub const SCHEDULER_LEASE_MS: i64 = 30_000;

/// Runs every due job once, on the node holding the scheduler lease (the only node, unless
/// several share a PostgreSQL store); returns whether this node ran them. Each node flushes
/// its own key usage.
pub async fn tick(state: &State) -> bool {
    let now_ms = state.clock.now_ms();
    let holder = match state
        .store
        .acquire_lease(SCHEDULER_LEASE, &state.node_id, now_ms, SCHEDULER_LEASE_MS)
        .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "scheduler lease failed");
            false
        }
    };
    if holder {
        run_jobs(state).await;
    }
    if let Err(e) = state.kms.flush_key_usage().await {
        tracing::error!(error = %error_chain(&e), "key usage flush failed");
    }
    holder
}

async fn run_jobs(state: &State) {
    match state.kms.delete_due_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "key deletion job finished"),
        Err(e) => tracing::error!(error = %error_chain(&e), "key deletion job failed"),
    }
    match state.kms.rotate_due_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rotated = n, "key rotation job finished"),
        Err(e) => tracing::error!(error = %error_chain(&e), "key rotation job failed"),
    }
    match state.kms.expire_imported_material().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(expired = n, "imported key material expiry job finished"),
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "imported key material expiry job failed")
        }
    }
    match state.ssm.run_due_policies().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(applied = n, "parameter policy job finished"),
        Err(e) => tracing::error!(error = %error_chain(&e), "parameter policy job failed"),
    }
    match state.secrets.purge_deleted().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "secret deletion job finished"),
        Err(e) => tracing::error!(error = %error_chain(&e), "secret deletion job failed"),
    }
    match state.secrets.rotate_due().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(started = n, "secret rotation job started rotations"),
        Err(e) => tracing::error!(error = %error_chain(&e), "secret rotation job failed"),
    }
    match state.iam.delete_expired_sessions().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "expired STS session cleanup finished"),
        Err(e) => tracing::error!(error = %error_chain(&e), "expired STS session cleanup failed"),
    }
    if let Some(retention) = state.audit_retention_ms {
        match state.audit.prune(retention).await {
            Ok(p) if p.deleted == 0 && p.checkpoint.is_none() => {}
            Ok(p) => tracing::info!(
                deleted = p.deleted,
                checkpoint = ?p.checkpoint,
                "audit retention job finished"
            ),
            Err(e) => tracing::error!(error = %error_chain(&e), "audit retention job failed"),
        }
    }
}

/// Ticks every `interval` until `shutdown` resolves.
pub async fn run(state: Arc<State>, interval: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timer.tick() => {
                tick(&state).await;
            }
            () = &mut shutdown => return,
        }
    }
}
