//! The tamper suite for exports: a trail exported in one or more runs, then each kind of
//! tampering with the files at random positions; every one is detected and named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use trent_audit::chain::{GENESIS, event_hash};
use trent_audit::export::{
    ExportDigest, ExportSettings, Exporter, parse_line, record_line, verify_export,
};
use trent_audit::{Problem, Signer};
use trent_store::AuditEventRecord;

fn event(seq: i64, prev: &[u8], n: u64) -> AuditEventRecord {
    let record = format!(r#"{{"eventName":"Encrypt","n":{n},"requestID":"r{seq}"}}"#);
    let hash = event_hash(prev, seq, record.as_bytes()).to_vec();
    AuditEventRecord {
        seq,
        account_id: "111122223333".into(),
        // An hour apart, so files spread over several names and days.
        event_time_ms: 1_700_000_000_000 + seq * 3_600_000,
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

fn chain(n: i64) -> Vec<AuditEventRecord> {
    let mut prev = GENESIS.to_vec();
    (1..=n)
        .map(|seq| {
            let e = event(seq, &prev, seq as u64 * 7);
            prev = e.hash.clone();
            e
        })
        .collect()
}

fn settings(per_file: usize) -> ExportSettings {
    ExportSettings {
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        records_per_file: per_file,
    }
}

/// Exports `events` in `runs` incremental runs.
fn export(dir: &Path, signer: &Signer, events: &[AuditEventRecord], per_file: usize, runs: usize) {
    let runs = runs.clamp(1, events.len());
    let chunk = events.len().div_ceil(runs);
    for (i, part) in events.chunks(chunk).enumerate() {
        let mut ex = Exporter::open(dir, settings(per_file), signer.public_key_der()).unwrap();
        if let Some((after, _)) = ex.resume_after() {
            assert_eq!(after, part[0].seq - 1);
        }
        for e in part {
            ex.push(e).unwrap();
        }
        let s = ex
            .finish(signer, 1_700_000_000_000 + i as i64 * 60_000)
            .unwrap()
            .unwrap();
        assert_eq!(s.digest_seq, i as i64 + 1);
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn read_gz(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn write_gz(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(content).unwrap();
    gz.finish().unwrap();
}

/// The digests (path, digest) in digest order.
fn digests(dir: &Path) -> Vec<(PathBuf, ExportDigest)> {
    let mut files = Vec::new();
    walk(&dir.join("AWSLogs"), &mut files);
    let mut out: Vec<_> = files
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .map(|p| {
            let d: ExportDigest = serde_json::from_slice(&read_gz(&p)).unwrap();
            (p, d)
        })
        .collect();
    out.sort_by_key(|(_, d)| d.digest_seq);
    out
}

/// The log files (relative path, record lines) in chain order.
fn logs(dir: &Path) -> Vec<(String, Vec<String>)> {
    digests(dir)
        .iter()
        .flat_map(|(_, d)| d.log_files.clone())
        .map(|f| {
            let text = String::from_utf8(read_gz(&dir.join(&f.s3_object))).unwrap();
            let lines: Vec<String> = text
                .lines()
                .skip(1)
                .filter(|l| *l != "]}")
                .map(|l| l.strip_suffix(',').unwrap_or(l).to_owned())
                .collect();
            (f.s3_object, lines)
        })
        .collect()
}

fn save(dir: &Path, rel: &str, lines: &[String]) {
    let content = format!("{{\"Records\":[\n{}\n]}}\n", lines.join(",\n"));
    write_gz(&dir.join(rel), content.as_bytes());
}

/// (file index, line index) of the `i`th exported event.
fn locate(logs: &[(String, Vec<String>)], mut i: usize) -> (usize, usize) {
    for (f, (_, lines)) in logs.iter().enumerate() {
        if i < lines.len() {
            return (f, i);
        }
        i -= lines.len();
    }
    unreachable!()
}

fn seq_of(line: &str) -> i64 {
    parse_line(line).unwrap().seq
}

#[derive(Debug, Clone)]
enum Tamper {
    EditEvent(usize),
    EditAndRehashRest(usize),
    DeleteEvent(usize),
    InsertEvent(usize),
    Reorder(usize, usize),
    RemoveFile(usize),
    AddFile(usize),
    ModifyFile(usize),
    Truncate(usize),
    ForgeDigest(usize),
    ResignDigest(usize),
    DeleteDigest(usize),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<usize>().prop_map(Tamper::EditEvent),
        any::<usize>().prop_map(Tamper::EditAndRehashRest),
        any::<usize>().prop_map(Tamper::DeleteEvent),
        any::<usize>().prop_map(Tamper::InsertEvent),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Reorder(a, b)),
        any::<usize>().prop_map(Tamper::RemoveFile),
        any::<usize>().prop_map(Tamper::AddFile),
        any::<usize>().prop_map(Tamper::ModifyFile),
        any::<usize>().prop_map(Tamper::Truncate),
        any::<usize>().prop_map(Tamper::ForgeDigest),
        any::<usize>().prop_map(Tamper::ResignDigest),
        any::<usize>().prop_map(Tamper::DeleteDigest),
    ]
}

#[test]
fn an_untouched_export_verifies_and_a_second_run_continues_it() {
    let signer = Signer::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = chain(40);
    export(dir.path(), &signer, &events[..25], 7, 2);
    let report = verify_export(dir.path(), signer.public_key_der()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.events, report.digests), (25, 2));

    // A further run starts after the last digest and extends both chains.
    let mut ex = Exporter::open(dir.path(), settings(7), signer.public_key_der()).unwrap();
    assert_eq!(ex.resume_after().unwrap().0, 25);
    // An event that does not continue the export is refused.
    assert!(ex.push(&events[26]).is_err());
    for e in &events[25..] {
        ex.push(e).unwrap();
    }
    let s = ex.finish(&signer, 1_800_000_000_000).unwrap().unwrap();
    assert_eq!((s.digest_seq, s.first_seq, s.last_seq), (3, 26, 40));
    let report = verify_export(dir.path(), signer.public_key_der()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.events, report.digests, report.unsigned_events),
        (40, 3, 0)
    );
    // Nothing new: no digest.
    let ex = Exporter::open(dir.path(), settings(7), signer.public_key_der()).unwrap();
    assert!(ex.finish(&signer, 1_800_000_000_000).unwrap().is_none());

    // Files are CloudTrail's: gzip JSON with a Records array, under a date hierarchy, no
    // more than the bound per file.
    for (rel, lines) in logs(dir.path()) {
        assert!(lines.len() <= 7);
        assert!(
            rel.starts_with("AWSLogs/111122223333/CloudTrail/us-east-1/20"),
            "{rel}"
        );
        let name = rel.rsplit('/').next().unwrap();
        assert!(
            name.starts_with("111122223333_CloudTrail_us-east-1_") && name.ends_with(".json.gz"),
            "{name}"
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&read_gz(&dir.path().join(&rel))).unwrap();
        let records = doc["Records"].as_array().unwrap();
        assert_eq!(records.len(), lines.len());
        assert_eq!(records[0]["eventName"], "Encrypt");
    }
    // Another key does not verify it.
    let other = Signer::generate().unwrap();
    let report = verify_export(dir.path(), other.public_key_der()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .filter(|p| matches!(p, Problem::ForgedDigest { .. }))
            .count()
            == 3
    );
}

#[test]
fn an_export_that_starts_after_pruned_events_verifies_from_its_first_digest() {
    let signer = Signer::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = chain(30);
    export(dir.path(), &signer, &events[10..], 4, 1);
    let report = verify_export(dir.path(), signer.public_key_der()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 20);
}

#[test]
fn a_directory_without_an_export_is_an_error_not_a_verified_trail() {
    let signer = Signer::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(verify_export(dir.path(), signer.public_key_der()).is_err());
}

#[test]
fn an_export_after_pruning_carries_the_checkpoint_and_a_forged_one_is_found() {
    let signer = Signer::generate().unwrap();
    let events = chain(20);
    let c = trent_audit::checkpoint::sign_checkpoint(
        &signer,
        None,
        8,
        &events[7].hash,
        1_700_000_000_000,
        1_700_000_000_000,
    )
    .unwrap();
    let run = |c: trent_store::AuditCheckpointRecord| {
        let dir = tempfile::tempdir().unwrap();
        let mut ex = Exporter::open(dir.path(), settings(5), signer.public_key_der()).unwrap();
        ex.set_checkpoint(Some(c));
        for e in &events[8..] {
            ex.push(e).unwrap();
        }
        ex.finish(&signer, 1_800_000_000_000).unwrap().unwrap();
        (
            verify_export(dir.path(), signer.public_key_der()).unwrap(),
            dir,
        )
    };
    let (report, _dir) = run(c.clone());
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoint.unwrap().pruned_through, 8);
    // Signed by another key: the digest over it is genuine, the checkpoint is not.
    let other = Signer::generate().unwrap();
    let mut alien = c.clone();
    alien.signature = other.sign(alien.body.as_bytes()).unwrap();
    let (report, _dir) = run(alien);
    assert!(
        report
            .problems
            .contains(&Problem::ForgedCheckpoint { checkpoint: 1 }),
        "{:?}",
        report.problems
    );
}

#[test]
fn record_lines_give_back_the_hashed_bytes() {
    for e in chain(5) {
        let line = record_line(&e).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["trentChain"]["seq"], e.seq);
        let back = parse_line(&line).unwrap();
        assert_eq!(
            (back.seq, back.record, back.prev_hash, back.hash),
            (e.seq, e.record, e.prev_hash, e.hash)
        );
    }
}

/// A problem the verifier must report.
type Expect = Box<dyn Fn(&Problem) -> bool>;

fn has(problems: &[Problem], f: impl Fn(&Problem) -> bool) -> bool {
    problems.iter().any(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_export_tampering_is_detected(
        n in 3i64..50,
        per_file in 1usize..8,
        runs in 1usize..4,
        t in tamper(),
    ) {
        let signer = Signer::generate().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let events = chain(n);
        export(dir, &signer, &events, per_file, runs);
        let mut logs = logs(dir);
        let len = events.len();
        let files = logs.len();
        let digests = digests(dir);
        let modified = |rel: &str| {
            let rel = rel.to_owned();
            move |p: &Problem| matches!(p, Problem::ModifiedFile { path, .. } if *path == rel)
        };
        let expect: Vec<Expect> = match t.clone() {
            Tamper::EditEvent(i) => {
                let (f, l) = locate(&logs, i % len);
                let line = &mut logs[f].1[l];
                *line = line.replacen("Encrypt", "Decrypt", 1);
                let seq = seq_of(line);
                save(dir, &logs[f].0, &logs[f].1);
                vec![Box::new(modified(&logs[f].0)), Box::new(move |p| *p == Problem::EditedEvent { seq })]
            }
            Tamper::EditAndRehashRest(i) => {
                // Edit one event and recompute every later hash, rewriting the files.
                let i = i % len;
                let mut forged = events.clone();
                forged[i].record = forged[i].record.replace("Encrypt", "Decrypt");
                for j in i..len {
                    let prev = if j == 0 { GENESIS.to_vec() } else { forged[j - 1].hash.clone() };
                    forged[j].prev_hash = prev.clone();
                    forged[j].hash = event_hash(&prev, forged[j].seq, forged[j].record.as_bytes()).to_vec();
                }
                let mut k = 0;
                for (rel, lines) in &mut logs {
                    for line in lines.iter_mut() {
                        *line = record_line(&forged[k]).unwrap();
                        k += 1;
                    }
                    save(dir, rel, lines);
                }
                vec![Box::new(|p| matches!(p, Problem::ChainRewritten { .. })), Box::new(|p| matches!(p, Problem::ModifiedFile { .. }))]
            }
            Tamper::DeleteEvent(i) => {
                let i = i % len;
                let (f, l) = locate(&logs, i);
                let seq = seq_of(&logs[f].1.remove(l));
                save(dir, &logs[f].0, &logs[f].1);
                let gone: Expect = if i == len - 1 {
                    Box::new(move |p| matches!(p, Problem::TruncatedTail { expected, .. } if *expected == seq))
                } else {
                    Box::new(move |p| *p == Problem::DeletedEvents { from: seq, to: seq })
                };
                vec![Box::new(modified(&logs[f].0)), gone]
            }
            Tamper::InsertEvent(i) => {
                let i = i % len;
                let (f, l) = locate(&logs, i);
                let prev = if i == 0 { GENESIS.to_vec() } else { events[i - 1].hash.clone() };
                let forged = event(events[i].seq, &prev, 999_999);
                let seq = forged.seq;
                logs[f].1.insert(l, record_line(&forged).unwrap());
                save(dir, &logs[f].0, &logs[f].1);
                vec![Box::new(modified(&logs[f].0)), Box::new(move |p| *p == Problem::InsertedEvent { seq })]
            }
            Tamper::Reorder(a, b) => {
                let (a, b) = (a % len, b % len);
                let (a, b) = if a == b { (a, (a + 1) % len) } else { (a, b) };
                let (a, b) = (a.min(b), a.max(b));
                let (fa, la) = locate(&logs, a);
                let (fb, lb) = locate(&logs, b);
                let moved = events[a].seq;
                let line_a = logs[fa].1[la].clone();
                let line_b = std::mem::replace(&mut logs[fb].1[lb], line_a);
                logs[fa].1[la] = line_b;
                save(dir, &logs[fa].0, &logs[fa].1);
                save(dir, &logs[fb].0, &logs[fb].1);
                vec![Box::new(modified(&logs[fa].0)), Box::new(move |p| *p == Problem::ReorderedEvent { seq: moved })]
            }
            Tamper::RemoveFile(i) => {
                let f = i % files;
                std::fs::remove_file(dir.join(&logs[f].0)).unwrap();
                let rel = logs[f].0.clone();
                let first = seq_of(&logs[f].1[0]);
                vec![
                    Box::new(move |p| matches!(p, Problem::RemovedFile { path, .. } if *path == rel)),
                    Box::new(move |p| matches!(p, Problem::DeletedEvents { from, .. } if *from == first)
                        || matches!(p, Problem::TruncatedTail { .. })),
                ]
            }
            Tamper::AddFile(i) => {
                // A copy of a file under another name, and a file of new events after the tail.
                let f = i % files;
                let copy = logs[f].0.replace("_00000", "_90000");
                std::fs::copy(dir.join(&logs[f].0), dir.join(&copy)).unwrap();
                let extra = event(n + 1, &events[len - 1].hash, 5);
                let new_rel = logs[f].0.replace("_00000", "_80000");
                save(dir, &new_rel, &[record_line(&extra).unwrap()]);
                let first = seq_of(&logs[f].1[0]);
                vec![
                    Box::new(move |p| matches!(p, Problem::AddedFile { path } if *path == copy)),
                    Box::new(move |p| matches!(p, Problem::AddedFile { path } if *path == new_rel)),
                    Box::new(move |p| *p == Problem::InsertedEvent { seq: first }),
                ]
            }
            Tamper::ModifyFile(i) => {
                // Same records, different bytes: still not the file the digest lists.
                let f = i % files;
                let path = dir.join(&logs[f].0);
                let mut content = read_gz(&path);
                content.extend_from_slice(b"\n");
                write_gz(&path, &content);
                vec![Box::new(modified(&logs[f].0))]
            }
            Tamper::Truncate(k) => {
                // Cut the export's tail: whole files and lines at the end.
                let keep = k % len;
                let mut seen = 0;
                for (rel, lines) in &mut logs {
                    if seen >= keep {
                        std::fs::remove_file(dir.join(&*rel)).unwrap();
                    } else if seen + lines.len() > keep {
                        lines.truncate(keep - seen);
                        save(dir, rel, lines);
                    }
                    seen += lines.len();
                }
                vec![Box::new(move |p| matches!(p, Problem::TruncatedTail { expected, .. } if *expected == n))]
            }
            Tamper::ForgeDigest(i) => {
                let (path, mut d) = digests[i % digests.len()].clone();
                d.last_seq += 1;
                write_gz(&path, &serde_json::to_vec(&d).unwrap());
                let seq = d.digest_seq;
                vec![Box::new(move |p| *p == Problem::ForgedDigest { digest: seq })]
            }
            Tamper::ResignDigest(i) => {
                // A digest rewritten (its files' hashes too) and signed with another key.
                let other = Signer::generate().unwrap();
                let (path, mut d) = digests[i % digests.len()].clone();
                d.log_files[0].hash_value = "00".repeat(32);
                d.digest_signature = None;
                let body = serde_json::to_vec(&d).unwrap();
                d.digest_signature = Some(trent_crypto::hex(&other.sign(&body).unwrap()));
                write_gz(&path, &serde_json::to_vec(&d).unwrap());
                let seq = d.digest_seq;
                vec![Box::new(move |p| *p == Problem::ForgedDigest { digest: seq })]
            }
            Tamper::DeleteDigest(i) => {
                let (path, d) = digests[i % digests.len()].clone();
                std::fs::remove_file(&path).unwrap();
                let seq = d.digest_seq;
                let listed = d.log_files[0].s3_object.clone();
                if seq == digests.len() as i64 {
                    // The newest digest: its files are now listed by none.
                    vec![Box::new(move |p| matches!(p, Problem::AddedFile { path } if *path == listed))]
                } else {
                    vec![Box::new(move |p| *p == Problem::DeletedDigests { from: seq, to: seq })]
                }
            }
        };
        let report = verify_export(dir, signer.public_key_der()).unwrap();
        prop_assert!(!report.is_ok(), "{:?} not detected", t);
        for (k, e) in expect.iter().enumerate() {
            prop_assert!(has(&report.problems, e), "{:?}: expectation {}: got {:?}", t, k, report.problems);
        }
    }
}
