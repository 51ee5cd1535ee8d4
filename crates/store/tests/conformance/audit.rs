//! Conformance of the audit part of the store: the chain's rows, lookups, digests, checkpoints,
//! pruning, and appends that lost a race to another writer.

use trent_store::{
    AuditAttribute, AuditCheckpointRecord, AuditDigestRecord, AuditEventRecord, AuditQuery,
    StoreError,
};

use crate::harness::for_each_store;

const ACCOUNT: &str = "111122223333";

/// The `n`th event of a test chain: its hash names its position, and it links to the previous.
fn event(seq: i64, name: &str, time_ms: i64) -> AuditEventRecord {
    AuditEventRecord {
        seq,
        account_id: if seq % 5 == 0 {
            "444455556666".into()
        } else {
            ACCOUNT.into()
        },
        event_time_ms: time_ms,
        event_id: format!("event-{seq}"),
        event_name: name.into(),
        event_source: "kms.amazonaws.com".into(),
        username: Some(format!("user-{}", seq % 2)),
        access_key_id: Some("AKIAEXAMPLE".into()),
        read_only: seq % 2 == 0,
        resources: format!(
            r#"[{{"type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:{ACCOUNT}:key/k{}"}}]"#,
            seq % 3
        ),
        record: format!(r#"{{"eventName":"{name}","seq":{seq}}}"#),
        prev_hash: hash(seq - 1),
        hash: hash(seq),
    }
}

fn hash(seq: i64) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..8].copy_from_slice(&seq.to_be_bytes());
    h
}

fn query(attribute: Option<(AuditAttribute, &str)>) -> AuditQuery {
    AuditQuery {
        account_id: ACCOUNT.into(),
        start_ms: 0,
        end_ms: i64::MAX,
        attribute: attribute.map(|(a, v)| (a, v.to_owned())),
        before_seq: None,
        limit: 1000,
    }
}

#[tokio::test]
async fn the_chain_is_appended_read_and_looked_up() {
    for_each_store!("audit_chain", |s| {
        let store = &s.store;
        assert_eq!(store.audit_tail().await.unwrap(), None);
        let batch: Vec<_> = (1..=20)
            .map(|i| event(i, if i % 4 == 0 { "Decrypt" } else { "Encrypt" }, 1_000 + i))
            .collect();
        store.append_audit_events(&batch[..10]).await.unwrap();
        store.append_audit_events(&batch[10..]).await.unwrap();
        assert_eq!(store.audit_tail().await.unwrap(), Some((20, hash(20))));
        // A restart reads the same chain.
        let reopened = s.reopen().await;
        assert_eq!(reopened.audit_events(0, 100).await.unwrap(), batch);
        assert_eq!(
            reopened.audit_events(15, 3).await.unwrap(),
            batch[15..18].to_vec()
        );
        reopened.close().await;

        // Lookups: one account, newest first, by each attribute, paged by position.
        let all = store.lookup_audit_events(&query(None)).await.unwrap();
        let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
        let expected: Vec<i64> = (1..=20).rev().filter(|i| i % 5 != 0).collect();
        assert_eq!(seqs, expected);
        let by = |a, v| {
            let q = query(Some((a, v)));
            async move {
                store
                    .lookup_audit_events(&q)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| e.seq)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            by(AuditAttribute::EventName, "Decrypt").await,
            vec![16, 12, 8, 4]
        );
        assert_eq!(by(AuditAttribute::EventId, "event-7").await, vec![7]);
        assert_eq!(
            by(AuditAttribute::ReadOnly, "true").await,
            vec![18, 16, 14, 12, 8, 6, 4, 2]
        );
        assert_eq!(
            by(AuditAttribute::ReadOnly, "false").await,
            vec![19, 17, 13, 11, 9, 7, 3, 1]
        );
        assert_eq!(
            by(AuditAttribute::Username, "user-1").await,
            vec![19, 17, 13, 11, 9, 7, 3, 1]
        );
        assert_eq!(
            by(AuditAttribute::EventSource, "ssm.amazonaws.com").await,
            Vec::<i64>::new()
        );
        assert_eq!(
            by(AuditAttribute::AccessKeyId, "AKIAEXAMPLE").await.len(),
            16
        );
        assert_eq!(
            by(AuditAttribute::ResourceType, "AWS::KMS::Key")
                .await
                .len(),
            16
        );
        let k1 = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/k1");
        assert_eq!(
            by(AuditAttribute::ResourceName, &k1).await,
            vec![19, 16, 13, 7, 4, 1]
        );
        let mut page = query(None);
        page.before_seq = Some(12);
        page.limit = 3;
        page.start_ms = 1_003;
        page.end_ms = 1_011;
        let seqs: Vec<i64> = store
            .lookup_audit_events(&page)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![11, 9, 8]);
        assert_eq!(store.first_audit_seq_since(1_013).await.unwrap(), Some(13));
        assert_eq!(store.first_audit_seq_since(5_000).await.unwrap(), None);
    });
}

/// A writer that linked its batch from a tail another writer has moved past is refused, and
/// nothing of its batch is kept; linked again after the new tail, it goes in.
#[tokio::test]
async fn an_append_linked_from_a_stale_tail_is_refused_whole() {
    for_each_store!("audit_stale", |s| {
        let store = &s.store;
        store
            .append_audit_events(&[event(1, "A", 1), event(2, "A", 2)])
            .await
            .unwrap();
        let other = s.reopen().await;
        // Both writers saw tail 2; the other appends first.
        other
            .append_audit_events(&[event(3, "B", 3)])
            .await
            .unwrap();
        let stale = [event(3, "A", 3), event(4, "A", 4)];
        let refused = store.append_audit_events(&stale).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::AlreadyExists | StoreError::Conflict)
            ),
            "{}: {refused:?}",
            s.name
        );
        assert_eq!(store.audit_tail().await.unwrap(), Some((3, hash(3))));
        assert_eq!(store.audit_events(0, 10).await.unwrap().len(), 3);
        // Relinked after the new tail.
        store
            .append_audit_events(&[event(4, "A", 4), event(5, "A", 5)])
            .await
            .unwrap();
        assert_eq!(store.audit_tail().await.unwrap(), Some((5, hash(5))));
        other.close().await;
    });
}

/// Many writers racing, each relinking after a refusal as the audit writer does: the chain
/// ends up whole, every event in it once, every link right.
#[tokio::test]
async fn racing_writers_build_one_chain() {
    for_each_store!("audit_race", |s| {
        let writers = 4;
        let batches = 10;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = s.reopen().await;
            tasks.push(tokio::spawn(async move {
                for b in 0..batches {
                    loop {
                        let tail = store.audit_tail().await.unwrap().map_or(0, |t| t.0);
                        let rows: Vec<_> = (1..=3)
                            .map(|i| {
                                let mut e = event(tail + i, "Race", tail + i);
                                e.event_id = format!("w{w}-b{b}-{i}");
                                e
                            })
                            .collect();
                        match store.append_audit_events(&rows).await {
                            Ok(()) => break,
                            Err(StoreError::AlreadyExists | StoreError::Conflict) => continue,
                            // SQLite's busy timeout can end a lost race too.
                            Err(StoreError::Database(_)) => continue,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                store.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let events = s.store.audit_events(0, 10_000).await.unwrap();
        assert_eq!(events.len(), writers * batches * 3);
        for (i, e) in events.iter().enumerate() {
            let seq = i64::try_from(i).unwrap() + 1;
            assert_eq!(e.seq, seq);
            assert_eq!(e.prev_hash, hash(seq - 1));
        }
        let mut ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), events.len());
    });
}

#[tokio::test]
async fn digests_checkpoints_and_pruning() {
    for_each_store!("audit_digests", |s| {
        let store = &s.store;
        let batch: Vec<_> = (1..=10).map(|i| event(i, "E", i)).collect();
        store.append_audit_events(&batch).await.unwrap();
        assert_eq!(store.last_audit_digest().await.unwrap(), None);
        let digest = |seq: i64, first: i64, last: i64| AuditDigestRecord {
            seq,
            created_ms: seq * 100,
            first_seq: first,
            last_seq: last,
            body: format!(r#"{{"digest":{seq}}}"#),
            signature: vec![u8::try_from(seq).unwrap(); 64],
        };
        store.append_audit_digest(&digest(1, 1, 4)).await.unwrap();
        store.append_audit_digest(&digest(2, 5, 10)).await.unwrap();
        assert!(matches!(
            store.append_audit_digest(&digest(2, 5, 10)).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(
            store.audit_digests().await.unwrap(),
            vec![digest(1, 1, 4), digest(2, 5, 10)]
        );
        assert_eq!(
            store.last_audit_digest().await.unwrap(),
            Some(digest(2, 5, 10))
        );

        let checkpoint = AuditCheckpointRecord {
            seq: 1,
            created_ms: 50,
            pruned_through: 6,
            body: "{}".into(),
            signature: vec![7; 64],
        };
        store.append_audit_checkpoint(&checkpoint).await.unwrap();
        assert!(matches!(
            store.append_audit_checkpoint(&checkpoint).await,
            Err(StoreError::AlreadyExists)
        ));
        assert_eq!(store.audit_checkpoints().await.unwrap(), vec![checkpoint]);
        // Pruned in batches, oldest first, never past the named position.
        assert_eq!(store.prune_audit_events(6, 4).await.unwrap(), 4);
        assert_eq!(store.prune_audit_events(6, 4).await.unwrap(), 2);
        assert_eq!(store.prune_audit_events(6, 4).await.unwrap(), 0);
        let left: Vec<i64> = store
            .audit_events(0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left, vec![7, 8, 9, 10]);
        assert_eq!(store.audit_tail().await.unwrap(), Some((10, hash(10))));
    });
}

/// Three events of writer `w`'s batch `b`, not linked yet.
fn batch(name: &str, w: usize, b: usize) -> Vec<AuditEventRecord> {
    (1..=3)
        .map(|i| {
            let mut e = event(0, name, i);
            e.event_id = format!("w{w}-b{b}-{i}");
            e
        })
        .collect()
}

/// Links `rows` after `tail`, as the audit writer does (here a position's hash names it).
fn link_after(tail: &trent_store::AuditTail, rows: &mut [AuditEventRecord]) {
    let mut seq = tail.as_ref().map_or(0, |t| t.0);
    for row in rows.iter_mut() {
        seq += 1;
        row.seq = seq;
        row.prev_hash = hash(seq - 1);
        row.hash = hash(seq);
    }
}

/// The chain holds `n` events, at positions 1..=n, each linked to the one before.
async fn assert_whole_chain(store: &dyn trent_store::Store, n: usize) {
    let events = store.audit_events(0, 10_000).await.unwrap();
    assert_eq!(events.len(), n);
    for (i, e) in events.iter().enumerate() {
        let seq = i64::try_from(i).unwrap() + 1;
        assert_eq!((e.seq, &e.prev_hash), (seq, &hash(seq - 1)));
    }
}

/// On a store shared by several nodes, writers that link their batches under the chain lock
/// never conflict: every batch goes in on its first try and the chain is whole.
#[tokio::test]
async fn linked_appends_from_racing_nodes_never_conflict() {
    for_each_store!("audit_linked", |s| {
        if !s.is_postgres() {
            continue;
        }
        let writers = 4;
        let batches = 15;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = s.reopen().await;
            tasks.push(tokio::spawn(async move {
                for b in 0..batches {
                    let mut rows = batch("Linked", w, b);
                    store
                        .append_audit_events_linked(&mut rows, &link_after)
                        .await
                        .unwrap();
                }
                store.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_whole_chain(s.store.as_ref(), writers * batches * 3).await;
    });
}

/// Nodes writing as the audit writer does on PostgreSQL: each appends after the end it last
/// wrote in one statement and, when another node got there first, under the chain lock after
/// the end it reads there. The locked append never conflicts, even with one-statement appends
/// racing it, and the chain is whole.
#[tokio::test]
async fn locked_appends_never_conflict_with_one_statement_appends() {
    for_each_store!("audit_mixed", |s| {
        if !s.is_postgres() {
            continue;
        }
        let writers = 4;
        let batches = 25;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = s.reopen().await;
            tasks.push(tokio::spawn(async move {
                let mut known: trent_store::AuditTail = None;
                let mut locked = 0;
                for b in 0..batches {
                    let mut rows = batch("Mixed", w, b);
                    link_after(&known, &mut rows);
                    match store.append_audit_events(&rows).await {
                        Ok(()) => {}
                        Err(StoreError::AlreadyExists | StoreError::Conflict) => {
                            locked += 1;
                            store
                                .append_audit_events_linked(&mut rows, &link_after)
                                .await
                                .unwrap();
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                    known = rows.last().map(|r| (r.seq, r.hash.clone()));
                }
                store.close().await;
                locked
            }));
        }
        let mut locked = 0;
        for t in tasks {
            locked += t.await.unwrap();
        }
        // Every writer but the first to write started from an end that had moved on.
        assert!(locked > 0);
        assert_whole_chain(s.store.as_ref(), writers * batches * 3).await;
    });
}
