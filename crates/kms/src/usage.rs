//! Last-usage tracking for GetKeyLastUsage.
//!
//! Every successful cryptographic operation notes (operation, time, request id) for its key in
//! memory; [`Kms::flush_key_usage`] (the scheduler, and shutdown) writes the notes to the store
//! in one transaction. The request path never waits for the database, and a read sees unflushed
//! notes first. A crash loses at most the notes of one scheduler interval.

use std::collections::HashMap;
use std::sync::Mutex;

use trent_store::{KeyUsageRecord, Scope};

use crate::{Caller, Kms, KmsError, LoadedKey};

/// The meta entry holding when this deployment began tracking key usage (decimal ms).
const TRACKING_START_META: &str = "kms.key_usage.tracking_start_ms";

/// Usage noted since the last flush, by (scope, key id).
#[derive(Default)]
pub(crate) struct UsageNotes {
    pending: Mutex<HashMap<(Scope, String), Note>>,
    tracking_start_ms: std::sync::OnceLock<i64>,
}

/// One key's last use: what a [`KeyUsageRecord`] holds besides the key, kept small because it
/// is written on every successful cryptographic call.
struct Note {
    operation: &'static str,
    used_ms: i64,
    request_id: String,
}

fn record(key: &(Scope, String), note: &Note) -> KeyUsageRecord {
    KeyUsageRecord {
        scope: key.0.clone(),
        key_id: key.1.clone(),
        operation: note.operation.to_string(),
        used_ms: note.used_ms,
        request_id: note.request_id.clone(),
    }
}

impl Kms {
    /// Notes a successful cryptographic operation with `key`.
    pub(crate) fn note_usage(&self, key: &LoadedKey, operation: &'static str, caller: &Caller) {
        let note = Note {
            operation,
            used_ms: self.now_ms(),
            request_id: caller.request_id.clone(),
        };
        let id = (key.record.scope.clone(), key.record.key_id.clone());
        if let Ok(mut pending) = self.usage.pending.lock() {
            pending.insert(id, note);
        }
    }

    /// Writes the noted usage to the store. Returns how many keys were written.
    pub async fn flush_key_usage(&self) -> Result<usize, KmsError> {
        let notes: Vec<((Scope, String), Note)> = match self.usage.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Err(KmsError::Internal("usage notes poisoned")),
        };
        let batch: Vec<KeyUsageRecord> = notes.iter().map(|(k, n)| record(k, n)).collect();
        if let Err(e) = self.store().record_key_usage(&batch).await {
            // Put the notes back (newer notes taken meanwhile win) so the next flush retries.
            if let Ok(mut pending) = self.usage.pending.lock() {
                for (k, n) in notes {
                    pending.entry(k).or_insert(n);
                }
            }
            return Err(e.into());
        }
        Ok(batch.len())
    }

    /// The last usage of a key: an unflushed note, else the stored record.
    pub(crate) async fn last_usage(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> Result<Option<KeyUsageRecord>, KmsError> {
        let noted = self
            .usage
            .pending
            .lock()
            .map_err(|_| KmsError::Internal("usage notes poisoned"))?
            .get_key_value(&(scope.clone(), key_id.to_string()))
            .map(|(k, n)| record(k, n));
        if noted.is_some() {
            return Ok(noted);
        }
        Ok(self.store().key_usage(scope, key_id).await?)
    }

    /// When this deployment began tracking key usage: recorded in the store the first time a
    /// server starts (see [`Kms::start_usage_tracking`]).
    pub(crate) async fn tracking_start_ms(&self) -> Result<i64, KmsError> {
        if let Some(ms) = self.usage.tracking_start_ms.get() {
            return Ok(*ms);
        }
        self.start_usage_tracking().await?;
        self.usage
            .tracking_start_ms
            .get()
            .copied()
            .ok_or(KmsError::Internal("tracking start not recorded"))
    }

    /// Records (once per deployment) that usage tracking has begun, and loads the date.
    pub async fn start_usage_tracking(&self) -> Result<(), KmsError> {
        let now = self.now_ms().to_string();
        self.store()
            .put_meta_once(TRACKING_START_META, now.as_bytes())
            .await?;
        let stored = self
            .store()
            .get_meta(TRACKING_START_META)
            .await?
            .ok_or(KmsError::Internal("tracking start missing after insert"))?;
        let ms = std::str::from_utf8(&stored)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(KmsError::Internal("malformed tracking start in store"))?;
        let _ = self.usage.tracking_start_ms.set(ms);
        Ok(())
    }
}
