//! The latest version of recently read parameters, so that GetParameter and GetParameters by
//! plain name cost no store query.
//!
//! Correctness rests on two rules:
//! - Every write of a parameter in this process (put, delete, label, unlabel, policy actions)
//!   calls [`LatestCache::invalidate`] after its transaction has ended, before it answers.
//!   Writes by other nodes sharing a PostgreSQL store arrive as change notifications
//!   ([`crate::Ssm::apply_change`]), which invalidate the same way.
//! - A read that missed fills the cache only if no invalidation happened since the read began
//!   (a generation counter, checked under the same lock that invalidation takes). A read that
//!   raced with a write may have seen the old version; it then leaves the cache alone, so a
//!   stale entry can never outlive the write that made it stale.
//!
//! Entries hold what the store holds (a SecureString's value is its KMS ciphertext, never the
//! plaintext), and the cache is bounded in entries and in value bytes: when full it starts over.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use trent_store::{ParameterVersionRecord, Scope};

/// Most entries held before the cache is emptied.
const CAPACITY: usize = 100_000;
/// Most bytes of values held before the cache is emptied (an Advanced value is up to 8 KB).
const MAX_BYTES: usize = 64 << 20;

#[derive(Default)]
pub(crate) struct LatestCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every invalidation.
    generation: u64,
    entries: HashMap<String, ParameterVersionRecord>,
    /// Bytes of the values held (an upper bound: removals do not subtract).
    bytes: usize,
}

/// What a lookup found: the entry, or the generation a fill must match.
pub(crate) enum Lookup {
    Hit(Box<ParameterVersionRecord>),
    Miss(u64),
}

fn key(scope: &Scope, name: &str) -> String {
    let mut k = String::with_capacity(scope.account_id.len() + scope.region.len() + name.len() + 2);
    k.push_str(&scope.account_id);
    k.push('\n');
    k.push_str(&scope.region);
    k.push('\n');
    k.push_str(name);
    k
}

impl LatestCache {
    /// A poisoned lock only means another thread panicked while holding it; every update
    /// below leaves the map consistent, so the data is still good.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, scope: &Scope, name: &str) -> Lookup {
        let inner = self.lock();
        match inner.entries.get(&key(scope, name)) {
            Some(v) => Lookup::Hit(Box::new(v.clone())),
            None => Lookup::Miss(inner.generation),
        }
    }

    /// Keeps `version`, read after [`get`](Self::get) answered `Miss(generation)`, unless a
    /// write has been invalidating since.
    pub fn fill(
        &self,
        scope: &Scope,
        name: &str,
        generation: u64,
        version: &ParameterVersionRecord,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY || inner.bytes >= MAX_BYTES {
            inner.entries.clear();
            inner.bytes = 0;
        }
        inner.bytes = inner.bytes.saturating_add(version.value.len());
        inner.entries.insert(key(scope, name), version.clone());
    }

    /// Forgets the parameter; called after every write of it.
    pub fn invalidate(&self, scope: &Scope, name: &str) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.remove(&key(scope, name));
    }

    /// Forgets every parameter (changes made elsewhere may have been missed).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: i64) -> ParameterVersionRecord {
        ParameterVersionRecord {
            version,
            param_type: "String".into(),
            value: b"v".to_vec(),
            description: None,
            allowed_pattern: None,
            data_type: "text".into(),
            tier: "Standard".into(),
            key_id: None,
            labels: Vec::new(),
            modified_ms: 0,
            modified_user: String::new(),
            policies: String::new(),
        }
    }

    #[test]
    fn fills_hits_and_invalidates() {
        let cache = LatestCache::default();
        let scope = Scope::new("111122223333", "us-east-1");
        let Lookup::Miss(g) = cache.get(&scope, "/a") else {
            panic!("empty cache hit")
        };
        cache.fill(&scope, "/a", g, &record(1));
        assert!(matches!(cache.get(&scope, "/a"), Lookup::Hit(v) if v.version == 1));
        // Scopes and names are distinct keys.
        assert!(matches!(
            cache.get(&Scope::new("111122223333", "us-west-2"), "/a"),
            Lookup::Miss(_)
        ));
        cache.invalidate(&scope, "/a");
        assert!(matches!(cache.get(&scope, "/a"), Lookup::Miss(_)));
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill() {
        let cache = LatestCache::default();
        let scope = Scope::new("111122223333", "us-east-1");
        // A reader misses and reads version 1 from the store ...
        let Lookup::Miss(g) = cache.get(&scope, "/a") else {
            panic!("empty cache hit")
        };
        // ... while a writer commits version 2 and invalidates ...
        cache.invalidate(&scope, "/a");
        // ... so the reader's stale version 1 is not kept.
        cache.fill(&scope, "/a", g, &record(1));
        assert!(matches!(cache.get(&scope, "/a"), Lookup::Miss(_)));
    }
}
