//! The tamper suite: every kind of tampering, at random positions, is detected and named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use trent_audit::chain::{GENESIS, event_hash};
use trent_audit::log::sign_digest;
use trent_audit::{Problem, Signer, verify};
use trent_store::{AuditDigestRecord, AuditEventRecord};

fn event(seq: i64, prev: &[u8], n: u64) -> AuditEventRecord {
    let record = format!(r#"{{"eventName":"Encrypt","n":{n},"requestID":"r{seq}"}}"#);
    let hash = event_hash(prev, seq, record.as_bytes()).to_vec();
    AuditEventRecord {
        seq,
        account_id: "111122223333".into(),
        event_time_ms: 1_700_000_000_000 + seq,
        event_id: format!("e{seq}"),
        event_name: "Encrypt".into(),
        event_source: "kms.amazonaws.com".into(),
        username: None,
        access_key_id: None,
        read_only: true,
        resources: "[]".into(),
        record,
        prev_hash: prev.to_vec(),
        hash,
    }
}

/// `n` events with a digest after each `every` events and one at the end.
fn trail(signer: &Signer, n: i64, every: i64) -> (Vec<AuditEventRecord>, Vec<AuditDigestRecord>) {
    let mut events = Vec::new();
    let mut digests: Vec<AuditDigestRecord> = Vec::new();
    let mut prev = GENESIS.to_vec();
    for seq in 1..=n {
        let e = event(seq, &prev, seq as u64 * 7);
        prev = e.hash.clone();
        events.push(e);
        if (seq % every == 0 || seq == n)
            && let Some(d) =
                sign_digest(signer, digests.last(), seq, &prev, 1_700_000_000_000).unwrap()
        {
            digests.push(d);
        }
    }
    (events, digests)
}

/// Recomputes every hash from `from` (an index) on, as a tamperer who knows the scheme would.
fn rehash(events: &mut [AuditEventRecord], from: usize) {
    for i in from..events.len() {
        let prev = if i == 0 {
            GENESIS.to_vec()
        } else {
            events[i - 1].hash.clone()
        };
        events[i].prev_hash = prev.clone();
        events[i].hash = event_hash(&prev, events[i].seq, events[i].record.as_bytes()).to_vec();
    }
}

#[derive(Debug, Clone)]
enum Tamper {
    Edit(usize),
    EditAndRehashOne(usize),
    EditAndRehashRest(usize),
    Delete(usize),
    DeleteAndRehash(usize),
    Insert(usize),
    Swap(usize, usize),
    Truncate(usize),
    ForgeDigest(usize),
    DeleteDigest(usize),
    ResignWithOtherKey(usize),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<usize>().prop_map(Tamper::Edit),
        any::<usize>().prop_map(Tamper::EditAndRehashOne),
        any::<usize>().prop_map(Tamper::EditAndRehashRest),
        any::<usize>().prop_map(Tamper::Delete),
        any::<usize>().prop_map(Tamper::DeleteAndRehash),
        any::<usize>().prop_map(Tamper::Insert),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap(a, b)),
        any::<usize>().prop_map(Tamper::Truncate),
        any::<usize>().prop_map(Tamper::ForgeDigest),
        any::<usize>().prop_map(Tamper::DeleteDigest),
        any::<usize>().prop_map(Tamper::ResignWithOtherKey),
    ]
}

fn has(problems: &[Problem], f: impl Fn(&Problem) -> bool) -> bool {
    problems.iter().any(f)
}

#[test]
fn an_untouched_trail_verifies() {
    let signer = Signer::generate().unwrap();
    let (events, digests) = trail(&signer, 50, 7);
    let report = verify(signer.public_key_der(), &events, &digests);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 50);
    assert_eq!(report.unsigned_events, 0);
}

#[test]
fn events_after_the_last_digest_are_counted_as_unsigned() {
    let signer = Signer::generate().unwrap();
    let (mut events, digests) = trail(&signer, 20, 5);
    let mut prev = events.last().unwrap().hash.clone();
    for seq in 21..=23 {
        let e = event(seq, &prev, 1);
        prev = e.hash.clone();
        events.push(e);
    }
    let report = verify(signer.public_key_der(), &events, &digests);
    assert!(report.is_ok());
    assert_eq!(report.unsigned_events, 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_tampering_is_detected(n in 3i64..60, every in 1i64..10, t in tamper()) {
        let signer = Signer::generate().unwrap();
        let (mut events, mut digests) = trail(&signer, n, every);
        let len = events.len();
        let expect: Box<dyn Fn(&Problem) -> bool> = match t {
            Tamper::Edit(i) => {
                let i = i % len;
                events[i].record = events[i].record.replace("Encrypt", "Decrypt");
                let seq = events[i].seq;
                Box::new(move |p| *p == Problem::EditedEvent { seq })
            }
            Tamper::EditAndRehashOne(i) => {
                let i = i % len;
                events[i].record = events[i].record.replace("Encrypt", "Decrypt");
                events[i].hash = event_hash(&events[i].prev_hash, events[i].seq, events[i].record.as_bytes()).to_vec();
                let seq = events[i].seq;
                Box::new(move |p| matches!(p, Problem::ChainBroken { seq: s } if *s == seq + 1)
                    || matches!(p, Problem::ChainRewritten { seq: s, .. } if *s == seq))
            }
            Tamper::EditAndRehashRest(i) => {
                let i = i % len;
                events[i].record = events[i].record.replace("Encrypt", "Decrypt");
                rehash(&mut events, i);
                Box::new(|p| matches!(p, Problem::ChainRewritten { .. }))
            }
            Tamper::Delete(i) => {
                let i = i % len;
                let seq = events.remove(i).seq;
                if i == len - 1 {
                    Box::new(move |p| matches!(p, Problem::TruncatedTail { expected, .. } if *expected == seq))
                } else {
                    Box::new(move |p| *p == Problem::DeletedEvents { from: seq, to: seq })
                }
            }
            Tamper::DeleteAndRehash(i) => {
                // Remove one event and renumber and rehash everything after it.
                let i = i % len;
                events.remove(i);
                for (j, e) in events.iter_mut().enumerate().skip(i) {
                    e.seq = j as i64 + 1;
                }
                rehash(&mut events, i);
                Box::new(|p| matches!(p, Problem::ChainRewritten { .. } | Problem::TruncatedTail { .. }))
            }
            Tamper::Insert(i) => {
                let i = i % len;
                let prev = if i == 0 { GENESIS.to_vec() } else { events[i - 1].hash.clone() };
                let forged = event(events[i].seq, &prev, 999_999);
                let seq = forged.seq;
                events.insert(i, forged);
                Box::new(move |p| *p == Problem::InsertedEvent { seq })
            }
            Tamper::Swap(a, b) => {
                let (a, b) = (a % len, b % len);
                let (a, b) = if a == b { (a, (a + 1) % len) } else { (a.min(b), a.max(b)) };
                let (a, b) = (a.min(b), a.max(b));
                events.swap(a, b);
                let moved = events[b].seq;
                Box::new(move |p| *p == Problem::ReorderedEvent { seq: moved })
            }
            Tamper::Truncate(k) => {
                let keep = k % len;
                events.truncate(keep);
                Box::new(move |p| matches!(p, Problem::TruncatedTail { expected, .. } if *expected == n))
            }
            Tamper::ForgeDigest(i) => {
                let i = i % digests.len();
                digests[i].body = digests[i].body.replace("\"lastSeq\":", "\"lastSeq\":1");
                let d = digests[i].seq;
                Box::new(move |p| *p == Problem::ForgedDigest { digest: d })
            }
            Tamper::DeleteDigest(i) => {
                let i = i % digests.len();
                if i == digests.len() - 1 && digests.len() == 1 {
                    // Deleting the only digest leaves nothing signed: the trail still verifies
                    // as a chain, with every event counted as unsigned.
                    digests.clear();
                    let report = verify(signer.public_key_der(), &events, &digests);
                    prop_assert_eq!(report.unsigned_events, n as u64);
                    return Ok(());
                }
                if i == digests.len() - 1 {
                    let last = digests.pop().unwrap();
                    let report = verify(signer.public_key_der(), &events, &digests);
                    prop_assert!(report.unsigned_events >= (last.last_seq - last.first_seq + 1) as u64);
                    return Ok(());
                }
                let d = digests.remove(i).seq;
                Box::new(move |p| *p == Problem::DeletedDigests { from: d, to: d })
            }
            Tamper::ResignWithOtherKey(i) => {
                let other = Signer::generate().unwrap();
                let i = i % digests.len();
                digests[i].signature = other.sign(digests[i].body.as_bytes()).unwrap();
                let d = digests[i].seq;
                Box::new(move |p| *p == Problem::ForgedDigest { digest: d })
            }
        };
        let report = verify(signer.public_key_der(), &events, &digests);
        prop_assert!(!report.is_ok(), "{:?} not detected", t);
        prop_assert!(has(&report.problems, &expect), "{:?}: got {:?}", t, report.problems);
    }
}

// --- retention checkpoints ---

use trent_audit::Verifier;
use trent_audit::checkpoint::sign_checkpoint;
use trent_store::AuditCheckpointRecord;

fn verify_from(
    key: &[u8],
    events: &[AuditEventRecord],
    digests: &[AuditDigestRecord],
    checkpoints: &[AuditCheckpointRecord],
) -> trent_audit::Report {
    let mut v = Verifier::new(key, digests);
    v.checkpoints(key, checkpoints);
    for e in events {
        v.push(e);
    }
    v.finish()
}

/// A checkpoint after event `p` (1-based position), following `previous`.
fn checkpoint(
    signer: &Signer,
    events: &[AuditEventRecord],
    p: i64,
    previous: Option<&AuditCheckpointRecord>,
) -> AuditCheckpointRecord {
    let hash = &events[(p - 1) as usize].hash;
    sign_checkpoint(
        signer,
        previous,
        p,
        hash,
        1_700_000_000_000,
        1_700_000_100_000,
    )
    .unwrap()
}

#[test]
fn a_pruned_trail_verifies_from_its_checkpoint() {
    let signer = Signer::generate().unwrap();
    let key = signer.public_key_der();
    let (events, digests) = trail(&signer, 40, 6);
    let c1 = checkpoint(&signer, &events, 10, None);
    let c2 = checkpoint(&signer, &events, 25, Some(&c1));
    let report = verify_from(key, &events[25..], &digests, &[c1.clone(), c2.clone()]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 15);
    let c = report.checkpoint.unwrap();
    assert_eq!((c.checkpoint_seq, c.pruned_through), (2, 25));

    // Pruning interrupted: events behind the checkpoint remain and are skipped.
    let report = verify_from(key, &events[20..], &digests, &[c1.clone(), c2.clone()]);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.behind_checkpoint), (15, 5));

    // Without the checkpoints, the pruned events are missing.
    let report = verify_from(key, &events[25..], &digests, &[]);
    assert!(
        report
            .problems
            .contains(&Problem::DeletedEvents { from: 1, to: 25 })
    );

    // The newest checkpoint deleted: the events between the two are missing.
    let report = verify_from(key, &events[25..], &digests, std::slice::from_ref(&c1));
    assert!(
        report
            .problems
            .contains(&Problem::DeletedEvents { from: 11, to: 25 })
    );

    // The older one deleted.
    let report = verify_from(key, &events[25..], &digests, std::slice::from_ref(&c2));
    assert!(
        report
            .problems
            .contains(&Problem::DeletedCheckpoints { from: 1, to: 1 })
    );

    // Forged: moved forward over events deleted after it, or signed with another key.
    let mut forged = c2.clone();
    forged.body = forged
        .body
        .replace("\"prunedThrough\":25", "\"prunedThrough\":30");
    forged.pruned_through = 30;
    let report = verify_from(key, &events[30..], &digests, &[c1.clone(), forged]);
    assert!(
        report
            .problems
            .contains(&Problem::ForgedCheckpoint { checkpoint: 2 })
    );
    assert!(
        report
            .problems
            .contains(&Problem::DeletedEvents { from: 11, to: 30 })
    );
    let other = Signer::generate().unwrap();
    let alien = checkpoint(&other, &events, 25, Some(&c1));
    let report = verify_from(key, &events[25..], &digests, &[c1.clone(), alien]);
    assert!(
        report
            .problems
            .contains(&Problem::ForgedCheckpoint { checkpoint: 2 })
    );

    // Events deleted after the checkpoint are still found.
    let mut kept: Vec<_> = events[25..].to_vec();
    kept.remove(3);
    let report = verify_from(key, &kept, &digests, &[c1, c2]);
    assert!(
        report
            .problems
            .contains(&Problem::DeletedEvents { from: 29, to: 29 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Tampering after pruning, at random positions: still detected.
    #[test]
    fn tampering_after_pruning_is_detected(n in 5i64..50, every in 1i64..8, p in any::<usize>(), i in any::<usize>(), kind in 0u8..4) {
        let signer = Signer::generate().unwrap();
        let key = signer.public_key_der();
        let (events, digests) = trail(&signer, n, every);
        let p = (p % (n as usize - 2)) as i64 + 1;
        let c = checkpoint(&signer, &events, p, None);
        let mut kept: Vec<_> = events[p as usize..].to_vec();
        let i = i % kept.len();
        let seq = kept[i].seq;
        let ok = match kind {
            0 => {
                kept[i].record = kept[i].record.replace("Encrypt", "Decrypt");
                Problem::EditedEvent { seq }
            }
            1 if i + 1 < kept.len() => {
                kept.remove(i);
                Problem::DeletedEvents { from: seq, to: seq }
            }
            2 => {
                let mut forged = c.clone();
                forged.body = forged.body.replace("\"checkpointVersion\":\"1\"", "\"checkpointVersion\":\"2\"");
                let report = verify_from(key, &kept, &digests, &[forged]);
                prop_assert!(report.problems.contains(&Problem::ForgedCheckpoint { checkpoint: 1 }), "{:?}", report.problems);
                prop_assert!(report.problems.contains(&Problem::DeletedEvents { from: 1, to: p }), "{:?}", report.problems);
                return Ok(());
            }
            _ => {
                let report = verify_from(key, &kept, &digests, &[]);
                prop_assert!(report.problems.contains(&Problem::DeletedEvents { from: 1, to: p }), "{:?}", report.problems);
                return Ok(());
            }
        };
        let report = verify_from(key, &kept, &digests, std::slice::from_ref(&c));
        prop_assert!(report.problems.contains(&ok), "{:?}", report.problems);
    }
}
