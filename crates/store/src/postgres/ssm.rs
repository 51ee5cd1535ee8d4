//! Parameter Store tables on PostgreSQL: heads, versions, labels, and the event outbox.

#![allow(unused_variables, clippy::todo)] // TEMPORARY: filled in area by area

#[allow(unused_imports)]
use crate::*;

use super::PostgresStore;

pub(super) async fn get_parameter(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
) -> Result<Option<ParameterRecord>> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn get_parameter_version(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    version: Option<i64>,
) -> Result<Option<ParameterVersionRecord>> {
    let _ = (s, scope, name, version);
    todo!()
}

pub(super) async fn get_parameter_version_by_label(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    label: &str,
) -> Result<Option<ParameterVersionRecord>> {
    let _ = (s, scope, name, label);
    todo!()
}

pub(super) async fn parameter_versions(
    s: &PostgresStore,
    scope: &Scope,
    name: &str,
    after_version: i64,
    limit: u32,
) -> Result<Vec<ParameterVersionRecord>> {
    let _ = (s, scope, name, after_version, limit);
    todo!()
}

pub(super) async fn put_parameter_version(
    s: &PostgresStore,
    param: &ParameterRecord,
    version: &ParameterVersionRecord,
    create: bool,
    drop_version: Option<i64>,
    tier_limit: Option<i64>,
    event: Option<&OutboxEvent>,
) -> Result<i64> {
    let _ = (s, param, version, create, drop_version, tier_limit, event);
    todo!()
}

pub(super) async fn set_parameter_labels(
    s: &PostgresStore,
    param: &ParameterRecord,
    version: i64,
    add: &[String],
    remove: &[String],
    event: Option<&OutboxEvent>,
) -> Result<i64> {
    let _ = (s, param, version, add, remove, event);
    todo!()
}

pub(super) async fn set_parameter_tags(s: &PostgresStore, param: &ParameterRecord) -> Result<i64> {
    let _ = (s, param);
    todo!()
}

pub(super) async fn delete_parameter(s: &PostgresStore, scope: &Scope, name: &str) -> Result<bool> {
    let _ = (s, scope, name);
    todo!()
}

pub(super) async fn delete_parameter_checked(
    s: &PostgresStore,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<()> {
    let _ = (s, param, events);
    todo!()
}

pub(super) async fn set_parameter_policies(
    s: &PostgresStore,
    param: &ParameterRecord,
    events: &[OutboxEvent],
) -> Result<i64> {
    let _ = (s, param, events);
    todo!()
}

pub(super) async fn parameters_with_due_policies(
    s: &PostgresStore,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<(Scope, String)>> {
    let _ = (s, now_ms, limit);
    todo!()
}

pub(super) async fn count_parameters(
    s: &PostgresStore,
    scope: &Scope,
    tier: Option<&str>,
) -> Result<i64> {
    let _ = (s, scope, tier);
    todo!()
}

pub(super) async fn pending_events(s: &PostgresStore, limit: u32) -> Result<Vec<PendingEvent>> {
    let _ = (s, limit);
    todo!()
}

pub(super) async fn ack_event(s: &PostgresStore, seq: i64, acked: &[String]) -> Result<()> {
    let _ = (s, seq, acked);
    todo!()
}

pub(super) async fn delete_event(s: &PostgresStore, seq: i64) -> Result<()> {
    let _ = (s, seq);
    todo!()
}

pub(super) async fn list_parameters_by_path(
    s: &PostgresStore,
    scope: &Scope,
    prefix: &str,
    recursive: bool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(ParameterRecord, ParameterVersionRecord)>> {
    let _ = (s, scope, prefix, recursive, after, limit);
    todo!()
}
