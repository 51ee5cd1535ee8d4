//! Recently read secrets (head, versions, and the ciphertexts read), so that GetSecretValue
//! costs no store query when nothing changed.
//!
//! Correctness rests on two rules, as for Parameter Store's cache:
//! - Every write of a secret through this store (create, save, delete, several at once, a read's
//!   access date) invalidates its entry after its transaction ended, before the write returns.
//!   The store has no other writer: one SQLite database is served by one process.
//! - A read that missed fills the cache only if no invalidation happened since the read began
//!   (a generation counter, checked under the lock invalidation takes), so a read that raced a
//!   write never leaves a stale entry behind.
//!
//! Entries hold what the store holds: metadata and KMS ciphertext, never a plaintext value. The
//! cache is bounded in entries and bytes: when full it starts over.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::{Scope, SecretRecord};

/// Most secrets held before the cache is emptied.
const CAPACITY: usize = 50_000;
/// Most ciphertext bytes held before the cache is emptied (a value is up to 64 KB).
const MAX_BYTES: usize = 64 << 20;

#[derive(Default)]
pub(crate) struct SecretCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every invalidation.
    generation: u64,
    entries: HashMap<String, Entry>,
    /// Ciphertext bytes held (an upper bound: removals do not subtract).
    bytes: usize,
}

#[derive(Default)]
struct Entry {
    secret: Option<SecretRecord>,
    ciphertexts: HashMap<String, Vec<u8>>,
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

/// What a lookup found: the value, or the generation a fill must match.
pub(crate) enum Lookup<T> {
    Hit(T),
    Miss(u64),
}

impl SecretCache {
    /// A poisoned lock only means another thread panicked while holding it; every update below
    /// leaves the map consistent.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn secret(&self, scope: &Scope, name: &str) -> Lookup<SecretRecord> {
        let inner = self.lock();
        match inner
            .entries
            .get(&key(scope, name))
            .and_then(|e| e.secret.as_ref())
        {
            Some(s) => Lookup::Hit(s.clone()),
            None => Lookup::Miss(inner.generation),
        }
    }

    pub(crate) fn ciphertext(&self, scope: &Scope, name: &str, version: &str) -> Lookup<Vec<u8>> {
        let inner = self.lock();
        match inner
            .entries
            .get(&key(scope, name))
            .and_then(|e| e.ciphertexts.get(version))
        {
            Some(c) => Lookup::Hit(c.clone()),
            None => Lookup::Miss(inner.generation),
        }
    }

    /// The entry of `scope`/`name` if no write has been invalidating since `generation`.
    fn fill_with(
        &self,
        scope: &Scope,
        name: &str,
        generation: u64,
        bytes: usize,
        f: impl FnOnce(&mut Entry),
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY || inner.bytes >= MAX_BYTES {
            inner.entries.clear();
            inner.bytes = 0;
        }
        inner.bytes = inner.bytes.saturating_add(bytes);
        f(inner.entries.entry(key(scope, name)).or_default());
    }

    /// Keeps `secret`, read after a lookup answered `Miss(generation)`.
    pub(crate) fn fill_secret(&self, generation: u64, secret: &SecretRecord) {
        self.fill_with(&secret.scope, &secret.name, generation, 0, |e| {
            e.secret = Some(secret.clone());
        });
    }

    /// Keeps a version's ciphertext, read after a lookup answered `Miss(generation)`.
    pub(crate) fn fill_ciphertext(
        &self,
        scope: &Scope,
        name: &str,
        version: &str,
        generation: u64,
        ciphertext: &[u8],
    ) {
        self.fill_with(scope, name, generation, ciphertext.len(), |e| {
            e.ciphertexts
                .insert(version.to_owned(), ciphertext.to_vec());
        });
    }

    /// Forgets the secret; called after every write of it.
    pub(crate) fn invalidate(&self, scope: &Scope, name: &str) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.remove(&key(scope, name));
    }

    /// Forgets every secret (changes made elsewhere may have been missed).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn secret(scope: &Scope, revision: i64) -> SecretRecord {
        SecretRecord {
            scope: scope.clone(),
            name: "db".into(),
            arn: "arn".into(),
            description: None,
            kms_key_id: None,
            tags: Vec::new(),
            resource_policy: None,
            created_ms: 0,
            last_changed_ms: 0,
            last_accessed_ms: None,
            deleted_ms: None,
            purge_ms: None,
            revision,
            versions: Vec::new(),
        }
    }

    #[test]
    fn fills_hits_and_invalidates() {
        let cache = SecretCache::default();
        let scope = Scope::new("111122223333", "us-east-1");
        let Lookup::Miss(g) = cache.secret(&scope, "db") else {
            panic!("empty cache hit")
        };
        cache.fill_secret(g, &secret(&scope, 1));
        cache.fill_ciphertext(&scope, "db", "v1", g, b"blob");
        assert!(matches!(cache.secret(&scope, "db"), Lookup::Hit(s) if s.revision == 1));
        assert!(matches!(cache.ciphertext(&scope, "db", "v1"), Lookup::Hit(c) if c == b"blob"));
        assert!(matches!(
            cache.secret(&Scope::new("111122223333", "eu-west-1"), "db"),
            Lookup::Miss(_)
        ));
        cache.invalidate(&scope, "db");
        assert!(matches!(cache.secret(&scope, "db"), Lookup::Miss(_)));
        assert!(matches!(
            cache.ciphertext(&scope, "db", "v1"),
            Lookup::Miss(_)
        ));
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill() {
        let cache = SecretCache::default();
        let scope = Scope::new("111122223333", "us-east-1");
        let Lookup::Miss(g) = cache.secret(&scope, "db") else {
            panic!("empty cache hit")
        };
        cache.invalidate(&scope, "db");
        cache.fill_secret(g, &secret(&scope, 1));
        assert!(matches!(cache.secret(&scope, "db"), Lookup::Miss(_)));
    }
}
