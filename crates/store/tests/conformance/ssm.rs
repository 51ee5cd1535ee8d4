//! Conformance of the ssm part of the store: parameter heads, versions, labels, tags,
//! policies, path listings, the event outbox; revision checks under real concurrency; restarts;
//! the change notifications of a shared store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Barrier, broadcast};
use trent_store::{
    Change, OutboxEvent, ParameterRecord, ParameterVersionRecord, PendingEvent, Scope, Store,
    StoreError,
};

use crate::harness::{Subject, for_each_store};

const ACCOUNT: &str = "111122223333";

fn scope() -> Scope {
    Scope::new(ACCOUNT, "us-east-1")
}

fn head(scope: &Scope, name: &str) -> ParameterRecord {
    ParameterRecord {
        scope: scope.clone(),
        name: name.into(),
        tier: "Standard".into(),
        tags: Vec::new(),
        latest_version: 0,
        revision: 0,
        version_count: 0,
        oldest_version: 0,
        policies: "[]".into(),
        policy_due_ms: None,
    }
}

fn parameter_version(version: i64, value: &str) -> ParameterVersionRecord {
    ParameterVersionRecord {
        version,
        param_type: "String".into(),
        value: value.as_bytes().to_vec(),
        description: None,
        allowed_pattern: None,
        data_type: "text".into(),
        tier: "Standard".into(),
        key_id: None,
        labels: Vec::new(),
        modified_ms: version,
        modified_user: "me".into(),
        policies: "[]".into(),
    }
}

fn event(id: &str) -> OutboxEvent {
    OutboxEvent {
        event_id: id.into(),
        created_ms: 1,
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

/// Creates `name` with version 1 holding `value`.
async fn create(store: &dyn Store, scope: &Scope, name: &str, value: &str) {
    store
        .put_parameter_version(
            &head(scope, name),
            &parameter_version(1, value),
            true,
            None,
            None,
            None,
        )
        .await
        .unwrap();
}

/// `n` other handles on the subject's data (other nodes), and a barrier that starts their
/// work at the same moment.
async fn nodes(s: &Subject, n: usize) -> (Vec<Arc<dyn Store>>, Arc<Barrier>) {
    let mut handles = Vec::new();
    for _ in 0..n {
        handles.push(s.reopen().await);
    }
    (handles, Arc::new(Barrier::new(n)))
}

/// One PutParameter with overwrite, as the Parameter Store service does it: read the head,
/// build on it (dropping the oldest version when `history` are kept), and start over on a
/// conflict. Returns the version written.
async fn put_with_retry(
    store: &dyn Store,
    scope: &Scope,
    name: &str,
    value: &str,
    history: i64,
) -> i64 {
    for _ in 0..10_000 {
        let existing = store.get_parameter(scope, name).await.unwrap();
        let (param, create, drop) = match existing {
            Some(p) => {
                let drop = (p.version_count >= history).then_some(p.oldest_version);
                (p, false, drop)
            }
            None => (head(scope, name), true, None),
        };
        let version = parameter_version(param.latest_version + 1, value);
        match store
            .put_parameter_version(&param, &version, create, drop, None, None)
            .await
        {
            Ok(_) => return version.version,
            Err(StoreError::Conflict | StoreError::AlreadyExists) => {
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no PutParameter got through");
}

#[tokio::test]
async fn parameter_writes_are_revision_checked() {
    for_each_store!("ssm_revision_checked", |s| {
        let store = &s.store;
        let scope = scope();
        let mut first = head(&scope, "/p");
        first.tags = vec![("k".into(), "v".into())];
        store
            .put_parameter_version(&first, &parameter_version(1, "a"), true, None, None, None)
            .await
            .unwrap();
        assert!(matches!(
            store
                .put_parameter_version(&first, &parameter_version(1, "a"), true, None, None, None)
                .await,
            Err(StoreError::AlreadyExists)
        ));
        // Two writers read the same head; only the first commits.
        let read = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        assert_eq!((read.latest_version, read.version_count), (1, 1));
        store
            .put_parameter_version(&read, &parameter_version(2, "b"), false, None, None, None)
            .await
            .unwrap();
        assert!(matches!(
            store
                .put_parameter_version(&read, &parameter_version(2, "c"), false, None, None, None)
                .await,
            Err(StoreError::Conflict)
        ));
        // Labels are revision-checked too, and move between versions.
        let read = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        store
            .set_parameter_labels(&read, 1, &["l".into()], &[], None)
            .await
            .unwrap();
        assert!(matches!(
            store
                .set_parameter_labels(&read, 2, &["l".into()], &[], None)
                .await,
            Err(StoreError::Conflict)
        ));
        let read = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        store
            .set_parameter_labels(&read, 2, &["l".into()], &[], None)
            .await
            .unwrap();
        let by_label = store
            .get_parameter_version_by_label(&scope, "/p", "l")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (by_label.version, by_label.labels),
            (2, vec!["l".to_string()])
        );
        // Dropping the oldest version in the same write.
        let read = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        store
            .put_parameter_version(
                &read,
                &parameter_version(3, "d"),
                false,
                Some(1),
                None,
                None,
            )
            .await
            .unwrap();
        let read = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        assert_eq!(
            (read.latest_version, read.version_count, read.oldest_version),
            (3, 2, 2)
        );
        assert_eq!(read.tags, [("k".to_string(), "v".to_string())]);
        // A version that exists is never replaced, even by a writer with the current revision;
        // the refused write changes nothing.
        assert!(matches!(
            store
                .put_parameter_version(&read, &parameter_version(2, "x"), false, None, None, None)
                .await,
            Err(StoreError::Conflict)
        ));
        let again = store.get_parameter(&scope, "/p").await.unwrap().unwrap();
        assert_eq!(again, read);
        let two = store
            .get_parameter_version(&scope, "/p", Some(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(two.value, b"b");
        assert!(store.delete_parameter(&scope, "/p").await.unwrap());
        assert!(!store.delete_parameter(&scope, "/p").await.unwrap());
        assert!(
            store
                .get_parameter_version(&scope, "/p", Some(2))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_parameter_version_by_label(&scope, "/p", "l")
                .await
                .unwrap()
                .is_none()
        );
        // Re-created, it starts again at version 1 with no leftover labels.
        create(store.as_ref(), &scope, "/p", "new").await;
        let one = store
            .get_parameter_version(&scope, "/p", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (one.version, one.value, one.labels),
            (1, b"new".to_vec(), vec![])
        );
    });
}

#[tokio::test]
async fn outbox_events_commit_with_their_change_and_tier_limits_hold() {
    for_each_store!("ssm_outbox_tier_limits", |s| {
        let store = &s.store;
        let scope = scope();
        store
            .put_parameter_version(
                &head(&scope, "/a"),
                &parameter_version(1, "a"),
                true,
                None,
                Some(2),
                Some(&event("e1")),
            )
            .await
            .unwrap();
        // A write that fails writes no event.
        assert!(matches!(
            store
                .put_parameter_version(
                    &head(&scope, "/a"),
                    &parameter_version(1, "a"),
                    true,
                    None,
                    None,
                    Some(&event("lost")),
                )
                .await,
            Err(StoreError::AlreadyExists)
        ));
        store
            .put_parameter_version(
                &head(&scope, "/b"),
                &parameter_version(1, "b"),
                true,
                None,
                Some(2),
                Some(&event("e2")),
            )
            .await
            .unwrap();
        assert!(matches!(
            store
                .put_parameter_version(
                    &head(&scope, "/c"),
                    &parameter_version(1, "c"),
                    true,
                    None,
                    Some(2),
                    Some(&event("e3")),
                )
                .await,
            Err(StoreError::LimitExceeded)
        ));
        assert_eq!(
            store
                .count_parameters(&scope, Some("Standard"))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .count_parameters(&scope, Some("Advanced"))
                .await
                .unwrap(),
            0
        );
        // The limit is per tier and per scope.
        let mut advanced = head(&scope, "/c");
        advanced.tier = "Advanced".into();
        store
            .put_parameter_version(
                &advanced,
                &parameter_version(1, "c"),
                true,
                None,
                Some(2),
                None,
            )
            .await
            .unwrap();
        let elsewhere = Scope::new(ACCOUNT, "eu-west-1");
        store
            .put_parameter_version(
                &head(&elsewhere, "/c"),
                &parameter_version(1, "c"),
                true,
                None,
                Some(2),
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.count_parameters(&scope, None).await.unwrap(), 3);
        assert_eq!(store.count_parameters(&elsewhere, None).await.unwrap(), 1);
        assert_eq!(
            store
                .count_parameters(&Scope::new("444455556666", "us-east-1"), None)
                .await
                .unwrap(),
            0
        );

        // Policies due, and a revision-checked delete carrying its event.
        let mut a = store.get_parameter(&scope, "/a").await.unwrap().unwrap();
        a.policies = "[1]".into();
        a.policy_due_ms = Some(50);
        store.set_parameter_policies(&a, &[]).await.unwrap();
        assert!(
            store
                .parameters_with_due_policies(49, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.parameters_with_due_policies(50, 10).await.unwrap(),
            [(scope.clone(), "/a".to_string())]
        );
        assert!(matches!(
            store.delete_parameter_checked(&a, &[event("stale")]).await,
            Err(StoreError::Conflict)
        ));
        let a = store.get_parameter(&scope, "/a").await.unwrap().unwrap();
        assert_eq!((a.policies.as_str(), a.policy_due_ms), ("[1]", Some(50)));
        store
            .delete_parameter_checked(&a, &[event("e4")])
            .await
            .unwrap();
        // Gone: a second checked delete conflicts.
        assert!(matches!(
            store.delete_parameter_checked(&a, &[event("gone")]).await,
            Err(StoreError::Conflict)
        ));
        assert!(store.get_parameter(&scope, "/a").await.unwrap().is_none());
        assert!(
            store
                .parameters_with_due_policies(i64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let pending: Vec<PendingEvent> = store.pending_events(10).await.unwrap();
        let ids: Vec<&str> = pending.iter().map(|p| p.event.event_id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e4"]);
        assert_eq!(pending[1].event, event("e2"));
        assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(store.pending_events(1).await.unwrap(), pending[..1]);
        store
            .ack_event(pending[0].seq, &["webhook".into()])
            .await
            .unwrap();
        store.delete_event(pending[1].seq).await.unwrap();
        // Unknown events: nothing to do, and no error.
        store.delete_event(pending[1].seq).await.unwrap();
        store.ack_event(i64::MAX, &["x".into()]).await.unwrap();
        // Acknowledgements and events survive a restart.
        store.close().await;
        let store = s.reopen().await;
        let after = store.pending_events(10).await.unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0].acked, ["webhook"]);
        assert_eq!(after[0].event, pending[0].event);
        assert!(after[1].acked.is_empty());
        assert_eq!(after[1].seq, pending[2].seq);
        // A later event comes after every earlier one.
        let mut b = store.get_parameter(&scope, "/b").await.unwrap().unwrap();
        b.policies = "[2]".into();
        store
            .set_parameter_policies(&b, &[event("e5"), event("e6")])
            .await
            .unwrap();
        let ids: Vec<String> = store
            .pending_events(10)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.event.event_id)
            .collect();
        assert_eq!(ids, ["e1", "e4", "e5", "e6"]);
        store.close().await;
    });
}

#[tokio::test]
async fn versions_labels_tags_and_policies() {
    for_each_store!("ssm_versions_labels", |s| {
        let store = &s.store;
        let scope = scope();
        assert!(store.get_parameter(&scope, "/v").await.unwrap().is_none());
        assert!(
            store
                .get_parameter_version(&scope, "/v", None)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .parameter_versions(&scope, "/v", 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        for v in 1..=5 {
            assert_eq!(
                put_with_retry(store.as_ref(), &scope, "/v", &format!("v{v}"), 100).await,
                v
            );
        }
        let p = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        assert_eq!(
            (p.latest_version, p.version_count, p.oldest_version),
            (5, 5, 1)
        );
        // Latest by default, any kept version by number, nothing for an unknown one.
        let latest = store
            .get_parameter_version(&scope, "/v", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((latest.version, latest.value), (5, b"v5".to_vec()));
        let three = store
            .get_parameter_version(&scope, "/v", Some(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(three, parameter_version(3, "v3"));
        assert!(
            store
                .get_parameter_version(&scope, "/v", Some(6))
                .await
                .unwrap()
                .is_none()
        );
        // History pages, oldest first.
        let page: Vec<i64> = store
            .parameter_versions(&scope, "/v", 0, 2)
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(page, [1, 2]);
        let page: Vec<i64> = store
            .parameter_versions(&scope, "/v", 2, 10)
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(page, [3, 4, 5]);

        // Labels, in byte order on their version.
        let labels: Vec<String> = ["a_b", "B", "a", "A", "a-b"]
            .into_iter()
            .map(String::from)
            .collect();
        let p = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        let rev = store
            .set_parameter_labels(&p, 3, &labels, &[], Some(&event("labels")))
            .await
            .unwrap();
        assert_eq!(rev, p.revision + 1);
        let three = store
            .get_parameter_version(&scope, "/v", Some(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(three.labels, ["A", "B", "a", "a-b", "a_b"]);
        let history = store.parameter_versions(&scope, "/v", 0, 10).await.unwrap();
        assert_eq!(history[2].labels, three.labels);
        assert!(history[3].labels.is_empty());
        // Removing a label from a version it is not on does nothing; moving one takes it off
        // the version it was on.
        let p = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        assert_eq!(p.revision, rev);
        store
            .set_parameter_labels(&p, 4, &["B".into()], &["A".into()], None)
            .await
            .unwrap();
        let three = store
            .get_parameter_version(&scope, "/v", Some(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(three.labels, ["A", "a", "a-b", "a_b"]);
        let p = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        store
            .set_parameter_labels(&p, 3, &[], &["A".into(), "a".into()], None)
            .await
            .unwrap();
        let by_label = |label: &'static str| {
            let store = Arc::clone(store);
            let scope = scope.clone();
            async move {
                store
                    .get_parameter_version_by_label(&scope, "/v", label)
                    .await
                    .unwrap()
                    .map(|v| v.version)
            }
        };
        assert_eq!(by_label("B").await, Some(4));
        assert_eq!(by_label("a-b").await, Some(3));
        assert_eq!(by_label("A").await, None);
        assert_eq!(by_label("a").await, None);
        assert_eq!(by_label("b").await, None);
        let pending = store.pending_events(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event.event_id, "labels");

        // Tags replace the head's tags, revision-checked, and keep the rest of the head.
        let p = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        let mut tagged = p.clone();
        tagged.tags = vec![("b".into(), "2".into()), ("a".into(), "1".into())];
        let rev = store.set_parameter_tags(&tagged).await.unwrap();
        assert_eq!(rev, p.revision + 1);
        assert!(matches!(
            store.set_parameter_tags(&p).await,
            Err(StoreError::Conflict)
        ));
        let read = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        assert_eq!(read.tags, tagged.tags);
        assert_eq!(
            (read.latest_version, read.version_count, read.revision),
            (5, 5, rev)
        );

        // Policies: revision-checked, earliest due first, any scope, limited.
        assert!(matches!(
            store.set_parameter_policies(&p, &[event("refused")]).await,
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            store
                .set_parameter_labels(&p, 1, &["x".into()], &[], Some(&event("refused")))
                .await,
            Err(StoreError::Conflict)
        ));
        // Refused writes leave no event behind.
        assert_eq!(store.pending_events(10).await.unwrap().len(), 1);
        let mut with_policy = read.clone();
        with_policy.policies = "[\"expire\"]".into();
        with_policy.policy_due_ms = Some(300);
        store
            .set_parameter_policies(&with_policy, &[])
            .await
            .unwrap();
        let other = Scope::new("444455556666", "eu-west-1");
        create(store.as_ref(), &other, "/w", "w").await;
        let mut w = store.get_parameter(&other, "/w").await.unwrap().unwrap();
        w.policies = "[\"notify\"]".into();
        w.policy_due_ms = Some(100);
        store.set_parameter_policies(&w, &[]).await.unwrap();
        assert_eq!(
            store.parameters_with_due_policies(1_000, 10).await.unwrap(),
            [
                (other.clone(), "/w".to_string()),
                (scope.clone(), "/v".to_string())
            ]
        );
        assert_eq!(
            store.parameters_with_due_policies(1_000, 1).await.unwrap(),
            [(other.clone(), "/w".to_string())]
        );
        assert_eq!(
            store.parameters_with_due_policies(299, 10).await.unwrap(),
            [(other.clone(), "/w".to_string())]
        );
        // Cleared: no longer due.
        let mut w = store.get_parameter(&other, "/w").await.unwrap().unwrap();
        assert_eq!(w.policies, "[\"notify\"]");
        w.policies = "[]".into();
        w.policy_due_ms = None;
        store.set_parameter_policies(&w, &[]).await.unwrap();
        assert_eq!(
            store.parameters_with_due_policies(1_000, 10).await.unwrap(),
            [(scope.clone(), "/v".to_string())]
        );
        // A put carries the head's tier, tags and policies over (the caller's head).
        let mut v = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        v.tier = "Advanced".into();
        v.policy_due_ms = Some(200);
        let mut six = parameter_version(6, "v6");
        six.tier = "Advanced".into();
        six.description = Some("d".into());
        six.allowed_pattern = Some("^v".into());
        six.key_id = Some("k".into());
        six.param_type = "SecureString".into();
        six.policies = "[\"expire\"]".into();
        store
            .put_parameter_version(&v, &six, false, None, None, None)
            .await
            .unwrap();
        let read = store.get_parameter(&scope, "/v").await.unwrap().unwrap();
        assert_eq!(
            (read.tier.as_str(), read.policy_due_ms, read.latest_version),
            ("Advanced", Some(200), 6)
        );
        assert_eq!(read.tags, tagged.tags);
        assert_eq!(
            store
                .get_parameter_version(&scope, "/v", None)
                .await
                .unwrap()
                .unwrap(),
            six
        );
        assert_eq!(
            store
                .count_parameters(&scope, Some("Advanced"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .count_parameters(&scope, Some("Standard"))
                .await
                .unwrap(),
            0
        );
    });
}

/// Names that sort differently by byte and by locale: "A" < "B" < "a" < "a-b" < "a/b" <
/// "a_b" in byte order.
#[tokio::test]
async fn path_listings_are_in_byte_order_and_match_the_prefix_exactly() {
    for_each_store!("ssm_path_listing", |s| {
        let store = &s.store;
        let scope = scope();
        let names = [
            "/app/a/b",
            "/app/a-b",
            "/app/A",
            "/app/a_b",
            "/app/B",
            "/app/a",
            "/app/a/b/c",
            "/app/b/",
            "/apple",
            "/app",
            "/App/x",
            "/ap%/y",
            "/a_p/z",
        ];
        for name in names {
            create(store.as_ref(), &scope, name, name).await;
        }
        // Another scope's parameters are not listed.
        create(
            store.as_ref(),
            &Scope::new(ACCOUNT, "eu-west-1"),
            "/app/Z",
            "z",
        )
        .await;
        let list = |prefix: &'static str, recursive: bool, after: Option<String>, limit: u32| {
            let store = Arc::clone(store);
            let scope = scope.clone();
            async move {
                store
                    .list_parameters_by_path(&scope, prefix, recursive, after.as_deref(), limit)
                    .await
                    .unwrap()
            }
        };
        let names_of = |page: &[(ParameterRecord, ParameterVersionRecord)]| -> Vec<String> {
            page.iter().map(|(p, _)| p.name.clone()).collect()
        };
        let all = list("/app/", true, None, 100).await;
        assert_eq!(
            names_of(&all),
            [
                "/app/A",
                "/app/B",
                "/app/a",
                "/app/a-b",
                "/app/a/b",
                "/app/a/b/c",
                "/app/a_b",
                "/app/b/"
            ]
        );
        // Each comes with its latest version.
        for (p, v) in &all {
            assert_eq!(v.version, p.latest_version);
            assert_eq!(v.value, p.name.as_bytes());
            assert_eq!(p.scope, scope);
        }
        let direct = list("/app/", false, None, 100).await;
        assert_eq!(
            names_of(&direct),
            ["/app/A", "/app/B", "/app/a", "/app/a-b", "/app/a_b"]
        );
        assert_eq!(
            names_of(&list("/app/a/", false, None, 100).await),
            ["/app/a/b"]
        );
        assert_eq!(
            names_of(&list("/app/a/", true, None, 100).await),
            ["/app/a/b", "/app/a/b/c"]
        );
        // A prefix is matched as it is: no pattern characters, no case folding.
        assert_eq!(names_of(&list("/ap%/", true, None, 100).await), ["/ap%/y"]);
        assert_eq!(names_of(&list("/a_p/", true, None, 100).await), ["/a_p/z"]);
        assert_eq!(names_of(&list("/App/", true, None, 100).await), ["/App/x"]);
        assert!(list("/nothing/", true, None, 100).await.is_empty());
        // The root lists top-level names only, unless recursive.
        assert_eq!(
            names_of(&list("/", false, None, 100).await),
            ["/app", "/apple"]
        );
        assert_eq!(list("/", true, None, 100).await.len(), names.len());
        // Pages of two, each after the last name of the one before, give the same list.
        for recursive in [true, false] {
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = list("/app/", recursive, after.clone(), 2).await;
                assert!(page.len() <= 2);
                if page.is_empty() {
                    break;
                }
                after = page.last().map(|(p, _)| p.name.clone());
                paged.extend(names_of(&page));
            }
            let whole = if recursive { &all } else { &direct };
            assert_eq!(paged, names_of(whole));
        }
        // A position before the prefix starts at the prefix; one after every name gives nothing.
        assert_eq!(
            names_of(&list("/app/", true, Some("/a".into()), 100).await),
            names_of(&all)
        );
        assert!(
            list("/app/", true, Some("/app/z".into()), 100)
                .await
                .is_empty()
        );
        assert_eq!(
            names_of(&list("/app/", true, Some("/app/a-b".into()), 2).await),
            ["/app/a/b", "/app/a/b/c"]
        );
    });
}

/// A restart (or another node) reads back exactly what was written.
#[tokio::test]
async fn parameters_survive_a_restart() {
    for_each_store!("ssm_restart", |s| {
        let store = &s.store;
        let scope = scope();
        let mut p = head(&scope, "/r/secure");
        p.tags = vec![("team".into(), "x".into())];
        p.policies = "[\"expire\"]".into();
        p.policy_due_ms = Some(77);
        let mut one = parameter_version(1, "");
        one.value = vec![0, 159, 146, 150, 255];
        one.param_type = "SecureString".into();
        one.key_id = Some("alias/aws/ssm".into());
        one.description = Some("é unicode".into());
        store
            .put_parameter_version(&p, &one, true, None, Some(10), Some(&event("r1")))
            .await
            .unwrap();
        put_with_retry(store.as_ref(), &scope, "/r/secure", "two", 100).await;
        let read = store
            .get_parameter(&scope, "/r/secure")
            .await
            .unwrap()
            .unwrap();
        store
            .set_parameter_labels(&read, 1, &["prod".into(), "Old".into()], &[], None)
            .await
            .unwrap();
        let before_head = store
            .get_parameter(&scope, "/r/secure")
            .await
            .unwrap()
            .unwrap();
        let before_versions = store
            .parameter_versions(&scope, "/r/secure", 0, 10)
            .await
            .unwrap();
        let before_list = store
            .list_parameters_by_path(&scope, "/r/", false, None, 10)
            .await
            .unwrap();
        let before_events = store.pending_events(10).await.unwrap();
        assert_eq!(before_versions[0].labels, ["Old", "prod"]);
        assert_eq!(before_versions[0].value, one.value);
        store.close().await;

        let again = s.reopen().await;
        assert_eq!(
            again
                .get_parameter(&scope, "/r/secure")
                .await
                .unwrap()
                .unwrap(),
            before_head
        );
        assert_eq!(
            again
                .parameter_versions(&scope, "/r/secure", 0, 10)
                .await
                .unwrap(),
            before_versions
        );
        assert_eq!(
            again
                .list_parameters_by_path(&scope, "/r/", false, None, 10)
                .await
                .unwrap(),
            before_list
        );
        assert_eq!(again.pending_events(10).await.unwrap(), before_events);
        assert_eq!(
            again.parameters_with_due_policies(77, 10).await.unwrap(),
            [(scope.clone(), "/r/secure".to_string())]
        );
        assert_eq!(
            again
                .get_parameter_version_by_label(&scope, "/r/secure", "Old")
                .await
                .unwrap()
                .map(|v| v.version),
            Some(1)
        );
        again.close().await;
    });
}

/// N writers, each making M PutParameter-style writes on one parameter through its own
/// handle: every write gets its own version, and none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_on_one_parameter_lose_nothing() {
    const N: usize = 4;
    const M: usize = 10;
    for_each_store!("ssm_concurrent_puts", |s| {
        let scope = scope();
        for (name, history) in [("/race/all", 100_i64), ("/race/kept", 5)] {
            let (mut handles, go) = nodes(&s, N).await;
            let mut tasks = Vec::new();
            for t in 0..N {
                let store = handles.pop().unwrap();
                let go = Arc::clone(&go);
                let scope = scope.clone();
                tasks.push(tokio::spawn(async move {
                    go.wait().await;
                    let mut written = Vec::new();
                    for m in 0..M {
                        let value = format!("t{t}-m{m}");
                        let v = put_with_retry(store.as_ref(), &scope, name, &value, history).await;
                        written.push((v, value));
                    }
                    store.close().await;
                    written
                }));
            }
            let mut written = Vec::new();
            for t in tasks {
                written.extend(t.await.unwrap());
            }
            let total = i64::try_from(N * M).unwrap();
            let versions: BTreeSet<i64> = written.iter().map(|(v, _)| *v).collect();
            assert_eq!(
                versions.len(),
                N * M,
                "{}: a version was written twice",
                s.name
            );
            assert_eq!(versions, (1..=total).collect(), "{}", s.name);
            let p = s.store.get_parameter(&scope, name).await.unwrap().unwrap();
            assert_eq!(p.latest_version, total);
            let kept = history.min(total);
            assert_eq!(
                (p.version_count, p.oldest_version),
                (kept, total - kept + 1)
            );
            // Every kept version holds what its writer wrote.
            let stored = s
                .store
                .parameter_versions(&scope, name, 0, 200)
                .await
                .unwrap();
            assert_eq!(stored.len(), usize::try_from(kept).unwrap());
            for v in stored {
                let (_, value) = written.iter().find(|(w, _)| *w == v.version).unwrap();
                assert_eq!(v.value, value.as_bytes());
            }
        }
    });
}

/// Racing creators of one name: one wins, the others are told it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creators_of_one_name_have_one_winner() {
    const N: usize = 8;
    for_each_store!("ssm_racing_creators", |s| {
        let scope = scope();
        let (mut handles, go) = nodes(&s, N).await;
        let mut tasks = Vec::new();
        for t in 0..N {
            let store = handles.pop().unwrap();
            let go = Arc::clone(&go);
            let scope = scope.clone();
            tasks.push(tokio::spawn(async move {
                go.wait().await;
                let result = store
                    .put_parameter_version(
                        &head(&scope, "/one"),
                        &parameter_version(1, &format!("t{t}")),
                        true,
                        None,
                        Some(100),
                        Some(&event(&format!("t{t}"))),
                    )
                    .await;
                store.close().await;
                (t, result)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (t, Ok(revision)) => {
                    assert_eq!(revision, 1);
                    winners.push(t);
                }
                (_, Err(StoreError::AlreadyExists)) => {}
                (_, Err(e)) => panic!("{}: {e}", s.name),
            }
        }
        assert_eq!(winners.len(), 1, "{}", s.name);
        let v = s
            .store
            .get_parameter_version(&scope, "/one", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.value, format!("t{}", winners[0]).as_bytes());
        // Only the winner's event was written.
        let events = s.store.pending_events(100).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.event_id, format!("t{}", winners[0]));
    });
}

/// Racing creators of different names against a tier limit never pass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creators_never_pass_the_tier_limit() {
    const N: usize = 8;
    const LIMIT: i64 = 3;
    for_each_store!("ssm_racing_tier_limit", |s| {
        let scope = scope();
        // One Advanced parameter does not count against the Standard limit.
        let mut advanced = head(&scope, "/adv");
        advanced.tier = "Advanced".into();
        s.store
            .put_parameter_version(
                &advanced,
                &parameter_version(1, "a"),
                true,
                None,
                None,
                None,
            )
            .await
            .unwrap();
        let (mut handles, go) = nodes(&s, N).await;
        let mut tasks = Vec::new();
        for t in 0..N {
            let store = handles.pop().unwrap();
            let go = Arc::clone(&go);
            let scope = scope.clone();
            tasks.push(tokio::spawn(async move {
                go.wait().await;
                let result = store
                    .put_parameter_version(
                        &head(&scope, &format!("/limit/{t}")),
                        &parameter_version(1, "x"),
                        true,
                        None,
                        Some(LIMIT),
                        None,
                    )
                    .await;
                store.close().await;
                result
            }));
        }
        let (mut created, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(StoreError::LimitExceeded) => refused += 1,
                Err(e) => panic!("{}: {e}", s.name),
            }
        }
        assert_eq!(
            (created, refused),
            (LIMIT, i64::try_from(N).unwrap() - LIMIT)
        );
        assert_eq!(
            s.store
                .count_parameters(&scope, Some("Standard"))
                .await
                .unwrap(),
            LIMIT
        );
        assert_eq!(
            s.store
                .list_parameters_by_path(&scope, "/limit/", true, None, 100)
                .await
                .unwrap()
                .len(),
            usize::try_from(LIMIT).unwrap()
        );
    });
}

/// Labels moved concurrently: each writer moves the shared label onto its own version and adds
/// its own label, retrying on conflict. Every write counts once, the shared label ends on exactly
/// one version (the last writer's), and no writer's own label is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_moved_concurrently_end_on_one_version() {
    const N: i64 = 6;
    for_each_store!("ssm_racing_labels", |s| {
        let scope = scope();
        for v in 1..=N {
            put_with_retry(s.store.as_ref(), &scope, "/lbl", &format!("v{v}"), 100).await;
        }
        let start = s
            .store
            .get_parameter(&scope, "/lbl")
            .await
            .unwrap()
            .unwrap();
        let (mut handles, go) = nodes(&s, usize::try_from(N).unwrap()).await;
        let mut tasks = Vec::new();
        for t in 1..=N {
            let store = handles.pop().unwrap();
            let go = Arc::clone(&go);
            let scope = scope.clone();
            tasks.push(tokio::spawn(async move {
                go.wait().await;
                let add = vec!["shared".to_string(), format!("own{t}")];
                let mut revision = None;
                for _ in 0..10_000 {
                    let p = store.get_parameter(&scope, "/lbl").await.unwrap().unwrap();
                    match store.set_parameter_labels(&p, t, &add, &[], None).await {
                        Ok(r) => {
                            revision = Some(r);
                            break;
                        }
                        Err(StoreError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
                store.close().await;
                (t, revision.expect("a label write got through"))
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        // Each write got its own revision; the last one holds the shared label.
        let revisions: BTreeSet<i64> = results.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            revisions,
            (start.revision + 1..=start.revision + N).collect(),
            "{}",
            s.name
        );
        let end = s
            .store
            .get_parameter(&scope, "/lbl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(end.revision, start.revision + N);
        let (last, _) = results.iter().max_by_key(|(_, r)| *r).unwrap();
        let versions = s
            .store
            .parameter_versions(&scope, "/lbl", 0, 100)
            .await
            .unwrap();
        let holding: Vec<i64> = versions
            .iter()
            .filter(|v| v.labels.iter().any(|l| l == "shared"))
            .map(|v| v.version)
            .collect();
        assert_eq!(holding, [*last], "{}", s.name);
        for v in &versions {
            assert!(v.labels.contains(&format!("own{}", v.version)), "{v:?}");
        }
        assert_eq!(
            s.store
                .get_parameter_version_by_label(&scope, "/lbl", "shared")
                .await
                .unwrap()
                .map(|v| v.version),
            Some(*last)
        );
    });
}

/// The next change about `name`, skipping others (and the initial `Change::All`).
async fn next_change(rx: &mut broadcast::Receiver<Change>, scope: &Scope, name: &str) {
    let want = Change::Parameter {
        scope: scope.clone(),
        name: name.into(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(change)) if change == want => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("change notifications: {e}"),
            Err(_) => panic!("no change notified for {name} within 5 s"),
        }
    }
}

/// Nothing more about `scope`'s parameters arrives for a moment.
async fn no_change(rx: &mut broadcast::Receiver<Change>, scope: &Scope) {
    let quiet = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            match rx.recv().await {
                Ok(Change::Parameter { scope: s, name }) if s == *scope => return name,
                Ok(_) => {}
                Err(e) => panic!("change notifications: {e}"),
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "unexpected change: {quiet:?}");
}

/// Every write of a parameter is notified to the other nodes. (Tests share one database, so
/// the changes of other tests arrive too: this one uses its own account and skips theirs.)
#[tokio::test]
async fn parameter_writes_notify_the_other_nodes() {
    for_each_store!("ssm_notify", |s| {
        if s.is_postgres() {
            let store = &s.store;
            let scope = Scope::new("999988887777", "us-east-1");
            let other = s.reopen().await;
            let mut rx = other
                .subscribe_changes()
                .expect("a shared store publishes changes");
            // The listener is listening once it announced `Change::All`; the announcement may
            // have come before the subscription, so any change (or a quiet moment) will do.
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;

            create(store.as_ref(), &scope, "/n", "1").await;
            next_change(&mut rx, &scope, "/n").await;
            put_with_retry(store.as_ref(), &scope, "/n", "2", 100).await;
            next_change(&mut rx, &scope, "/n").await;
            let p = store.get_parameter(&scope, "/n").await.unwrap().unwrap();
            store
                .set_parameter_labels(&p, 1, &["l".into()], &[], None)
                .await
                .unwrap();
            next_change(&mut rx, &scope, "/n").await;
            let mut p = store.get_parameter(&scope, "/n").await.unwrap().unwrap();
            p.tags = vec![("k".into(), "v".into())];
            store.set_parameter_tags(&p).await.unwrap();
            next_change(&mut rx, &scope, "/n").await;
            let mut p = store.get_parameter(&scope, "/n").await.unwrap().unwrap();
            p.policies = "[1]".into();
            store.set_parameter_policies(&p, &[]).await.unwrap();
            next_change(&mut rx, &scope, "/n").await;
            let p = store.get_parameter(&scope, "/n").await.unwrap().unwrap();
            store.delete_parameter_checked(&p, &[]).await.unwrap();
            next_change(&mut rx, &scope, "/n").await;
            create(store.as_ref(), &scope, "/n2", "1").await;
            next_change(&mut rx, &scope, "/n2").await;
            assert!(store.delete_parameter(&scope, "/n2").await.unwrap());
            next_change(&mut rx, &scope, "/n2").await;
            // A refused write notifies nothing.
            assert!(matches!(
                store.set_parameter_tags(&p).await,
                Err(StoreError::Conflict)
            ));
            no_change(&mut rx, &scope).await;
            other.close().await;
        }
    });
}
