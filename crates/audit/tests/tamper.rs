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
