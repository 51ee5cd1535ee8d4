//! `trent audit export` and retention end to end: an export written while the server runs,
//! continued by a second one, verified, then tampered with; events pruned behind a signed
//! checkpoint once the injected clock passes the retention period, and `trent audit verify`
//! starting from it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::audit::{sql, start, terminate, trent, verify};
use crate::harness::TestServer;

fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "AKIDEXPORTTEST001",
            "dev-secret",
            None,
            None,
            "trent-tests",
        ))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

async fn calls(kms: &aws_sdk_kms::Client, n: usize) {
    for _ in 0..n {
        kms.generate_random()
            .number_of_bytes(8)
            .send()
            .await
            .unwrap();
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The export's log files (not digests), sorted by name (chain order).
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(&dir.join("AWSLogs"), &mut all);
    let mut logs: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    logs.sort_by_key(|p| p.file_name().unwrap().to_owned());
    logs
}

fn digest_files(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(&dir.join("AWSLogs"), &mut all);
    let mut d: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    d.sort();
    d
}

fn gunzip(path: &Path) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn gzip(path: &Path, content: &str) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(content.as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn verify_export(dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", "--export", s(dir)];
    args.extend_from_slice(extra);
    trent(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_while_serving_continues_verifies_and_names_tampering() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let running = start(data.path());
    let kms = kms_client(&running.endpoint);
    calls(&kms, 12).await;
    let export = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "export",
            "--data-dir",
            s(data.path()),
            "--out",
            s(out.path()),
            "--records-per-file",
            "5",
        ];
        args.extend_from_slice(extra);
        trent(&args)
    };
    // With the server running (SQLite WAL readers).
    let (ok, o) = export(&[]);
    assert!(ok, "{o}");
    assert!(
        o.contains("exported events 1 to 12 in 3 log file(s); digest 1"),
        "{o}"
    );
    calls(&kms, 7).await;
    let (ok, o) = export(&[]);
    assert!(ok, "{o}");
    assert!(
        o.contains("exported events 13 to 19 in 2 log file(s); digest 2"),
        "{o}"
    );
    let (ok, o) = export(&[]);
    assert!(ok && o.contains("nothing new to export"), "{o}");
    let (ok, o) = export(&["--from", "2020-01-01"]);
    assert!(!ok && o.contains("--from does not apply"), "{o}");
    terminate(running);

    // CloudTrail's layout and format.
    let logs = log_files(out.path());
    assert_eq!(logs.len(), 5);
    let mut n = 0;
    for f in &logs {
        let rel = f.strip_prefix(out.path()).unwrap().to_str().unwrap();
        assert!(
            rel.starts_with("AWSLogs/000000000000/CloudTrail/us-east-1/20"),
            "{rel}"
        );
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("000000000000_CloudTrail_us-east-1_") && name.ends_with(".json.gz"),
            "{name}"
        );
        let doc: Value = serde_json::from_str(&gunzip(f)).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            assert_eq!(r["eventName"], "GenerateRandom");
            assert_eq!(r["eventSource"], "kms.amazonaws.com");
            n += 1;
        }
    }
    assert_eq!(n, 19);
    let digests = digest_files(out.path());
    assert_eq!(digests.len(), 2);
    let d2: Value = serde_json::from_str(&gunzip(&digests[1])).unwrap();
    assert_eq!(d2["firstSeq"], 13);
    assert_eq!(d2["lastSeq"], 19);
    assert_eq!(d2["logFiles"].as_array().unwrap().len(), 2);
    assert!(d2["previousDigestSignature"].is_string());

    let (ok, o) = verify_export(out.path(), &[]);
    assert!(ok, "{o}");
    assert!(o.contains("19 events, 2 digests"), "{o}");
    let (ok, pem) = trent(&["audit", "public-key", "--data-dir", s(data.path())]);
    assert!(ok);
    let pem_file = scratch.path().join("audit.pem");
    std::fs::write(&pem_file, &pem).unwrap();
    let (ok, o) = verify_export(out.path(), &["--public-key", s(&pem_file)]);
    assert!(ok, "{o}");
    // Another key: every digest is forged.
    let other = tempfile::tempdir().unwrap();
    let running = start(other.path());
    terminate(running);
    let (_, other_pem) = trent(&["audit", "public-key", "--data-dir", s(other.path())]);
    let other_pem_file = scratch.path().join("other.pem");
    std::fs::write(&other_pem_file, &other_pem).unwrap();
    let (ok, o) = verify_export(out.path(), &["--public-key", s(&other_pem_file)]);
    assert!(
        !ok && o.contains("digest 1 is forged") && o.contains("digest 2 is forged"),
        "{o}"
    );

    // Each kind of tampering, on a copy of the export, is found and named.
    type Tamper = Box<dyn Fn(&Path)>;
    let rel = |p: &Path| p.strip_prefix(out.path()).unwrap().to_path_buf();
    let second = rel(&logs[1]);
    let last = rel(&logs[4]);
    let first_digest = rel(&digests[0]);
    let cases: Vec<(&str, Tamper, Vec<&str>)> = vec![
        (
            "an event edited",
            Box::new({
                let f = second.clone();
                move |d: &Path| {
                    let text = gunzip(&d.join(&f));
                    gzip(
                        &d.join(&f),
                        &text.replacen("GenerateRandom", "GenerateRandoM", 1),
                    );
                }
            }),
            vec!["was modified", "event 6 was edited"],
        ),
        (
            "an event deleted",
            Box::new({
                let f = second.clone();
                move |d: &Path| {
                    let text = gunzip(&d.join(&f));
                    let mut lines: Vec<&str> = text.lines().collect();
                    lines.remove(2);
                    let joined = lines.join("\n").replace(",\n]}", "\n]}");
                    gzip(&d.join(&f), &joined);
                }
            }),
            vec!["was modified", "event 7 was deleted"],
        ),
        (
            "two events reordered",
            Box::new({
                let f = second.clone();
                move |d: &Path| {
                    let text = gunzip(&d.join(&f));
                    let mut lines: Vec<String> = text
                        .lines()
                        .map(|l| l.trim_end_matches(',').to_owned())
                        .collect();
                    lines.swap(1, 2);
                    let body = lines[1..lines.len() - 1].join(",\n");
                    gzip(&d.join(&f), &format!("{{\"Records\":[\n{body}\n]}}\n"));
                }
            }),
            vec!["was modified", "event 6 was moved out of chain order"],
        ),
        (
            "a file removed",
            Box::new({
                let f = second.clone();
                move |d: &Path| std::fs::remove_file(d.join(&f)).unwrap()
            }),
            vec!["was removed", "events 6 to 10 were deleted"],
        ),
        (
            "a file added",
            Box::new({
                let f = second.clone();
                move |d: &Path| {
                    let name = f.to_str().unwrap().replace("_00000", "_90000");
                    std::fs::copy(d.join(&f), d.join(name)).unwrap();
                }
            }),
            vec!["was added", "two events claim position 6"],
        ),
        (
            "the tail cut off",
            Box::new({
                let f = last.clone();
                move |d: &Path| std::fs::remove_file(d.join(&f)).unwrap()
            }),
            vec![
                "was removed",
                "a signed digest covers events up to 19 but the last event is 17",
            ],
        ),
        (
            "a digest forged",
            Box::new({
                let f = first_digest.clone();
                move |d: &Path| {
                    let text = gunzip(&d.join(&f));
                    gzip(
                        &d.join(&f),
                        &text.replace("\"lastSeq\":12", "\"lastSeq\":11"),
                    );
                }
            }),
            vec!["digest 1 is forged"],
        ),
        (
            "a digest removed",
            Box::new({
                let f = first_digest.clone();
                move |d: &Path| std::fs::remove_file(d.join(&f)).unwrap()
            }),
            vec!["digest 1 was deleted"],
        ),
    ];
    for (what, tamper, expected) in cases {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(out.path(), copy.path());
        tamper(copy.path());
        let (ok, o) = verify_export(copy.path(), &["--public-key", s(&pem_file)]);
        assert!(!ok, "{what}: not detected: {o}");
        for e in expected {
            assert!(o.contains(e), "{what}: wanted '{e}': {o}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_events_behind_a_signed_checkpoint() {
    const HOUR: i64 = 3_600_000;
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data.path(), |o| o.audit_retention_days = Some(30)).await;
    let kms = server.client();
    let store = std::sync::Arc::clone(&server.state.store);
    let seqs = || async {
        let events = store.audit_events(0, 1000).await.unwrap();
        events.iter().map(|e| e.seq).collect::<Vec<i64>>()
    };
    let checkpoints = || async { store.audit_checkpoints().await.unwrap() };

    // Events 1-10 at T, 11-13 twelve hours later.
    calls(&kms, 10).await;
    server.clock.advance_ms(12 * HOUR);
    calls(&kms, 3).await;
    server.state.audit.write_digest().await.unwrap();
    // Nothing is older than the retention period yet.
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(seqs().await.len(), 13);
    assert!(checkpoints().await.is_empty());

    // T + 30 days + 3 hours: events 1-10 are past it and go, behind checkpoint 1.
    server.clock.advance_days(30);
    server.clock.advance_ms(-9 * HOUR);
    calls(&kms, 2).await;
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(seqs().await, [11, 12, 13, 14, 15]);
    let c = checkpoints().await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].pruned_through, 10);
    let body: Value = serde_json::from_str(&c[0].body).unwrap();
    assert_eq!(body["prunedThrough"], 10);
    assert_eq!(body["checkpointSeq"], 1);
    // Verified offline while the server runs, from the checkpoint.
    let (ok, o) = verify(data.path());
    assert!(ok, "{o}");
    assert!(
        o.contains("verified from checkpoint 1: events up to 10"),
        "{o}"
    );
    assert!(o.contains("5 events, "), "{o}");

    // Twelve hours later events 11-13 are past the period too, but the last checkpoint is
    // less than a day old: they wait.
    server.clock.advance_ms(12 * HOUR);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(checkpoints().await.len(), 1);
    assert_eq!(seqs().await, [11, 12, 13, 14, 15]);
    // A day after the checkpoint, they go.
    server.clock.advance_ms(12 * HOUR);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(checkpoints().await.len(), 2);
    assert_eq!(seqs().await, [14, 15]);

    // Everything old: all but the last event goes (the next one links to it), behind
    // checkpoint 3; the chain goes on from there.
    server.clock.advance_days(31);
    trent_server::scheduler::tick(&server.state).await;
    assert_eq!(seqs().await, [15]);
    assert_eq!(checkpoints().await.len(), 3);
    calls(&kms, 2).await;
    server.state.audit.write_digest().await.unwrap();
    let (ok, o) = verify(data.path());
    assert!(ok, "{o}");
    assert!(
        o.contains("verified from checkpoint 3: events up to 14"),
        "{o}"
    );

    // An export of a pruned trail starts at its first event and verifies. Event 15 is a
    // month older than 16 and 17: --to stops after it, and the next export continues.
    use trent_store::clock::Clock as _;
    let month_ago = trent_audit::record::format_time(server.clock.now_ms() - 30 * 24 * HOUR);
    let export = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "export",
            "--data-dir",
            s(data.path()),
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        trent(&args)
    };
    let (ok, o) = export(out.path(), &["--to", &month_ago]);
    assert!(ok && o.contains("exported events 15 to 15"), "{o}");
    let (ok, o) = export(out.path(), &[]);
    assert!(ok && o.contains("exported events 16 to 17"), "{o}");
    let (ok, o) = verify_export(out.path(), &[]);
    assert!(ok && o.contains("3 events, 2 digests"), "{o}");
    // It starts right after checkpoint 3, which its first digest carries.
    assert!(
        o.contains("verified from checkpoint 3: events up to 14"),
        "{o}"
    );
    // --from starts a first export later in the chain; it verifies from there.
    let later = tempfile::tempdir().unwrap();
    let (ok, o) = export(later.path(), &["--from", &month_ago]);
    assert!(ok && o.contains("exported events 16 to 17"), "{o}");
    let (ok, o) = verify_export(later.path(), &[]);
    assert!(ok && o.contains("2 events, 1 digests"), "{o}");
    let (ok, o) = export(later.path(), &["--from", "not-a-time"]);
    assert!(!ok && o.contains("is not a time"), "{o}");
    server.stop().await;

    // A forged or missing checkpoint, or an event deleted after it, is found.
    let cases: &[(&str, &str)] = &[
        (
            "UPDATE audit_checkpoints SET pruned_through = 15, body = replace(body, '\"prunedThrough\":14', '\"prunedThrough\":15') WHERE seq = 3",
            "checkpoint 3 is forged",
        ),
        (
            "DELETE FROM audit_checkpoints WHERE seq = 3",
            "event 14 was deleted",
        ),
        (
            "DELETE FROM audit_checkpoints",
            "events 1 to 14 were deleted",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 16",
            "event 16 was deleted",
        ),
    ];
    for (statement, expected) in cases {
        let copy = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(data.path()).unwrap() {
            let f = f.unwrap();
            if f.path().is_file() {
                std::fs::copy(f.path(), copy.path().join(f.file_name())).unwrap();
            }
        }
        sql(copy.path(), statement);
        let (ok, o) = verify(copy.path());
        assert!(!ok, "{statement}: not detected: {o}");
        assert!(
            o.contains(expected),
            "{statement}: wanted '{expected}': {o}"
        );
    }
}
