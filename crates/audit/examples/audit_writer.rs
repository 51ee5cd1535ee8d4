//! Pushes events through the real audit writer into a fresh SQLite store and reports what each
//! event cost: the driver for measuring the writer alone, without HTTP, signing or a client.
//!
//! ```sh
//! cargo build --release -p trent-audit --example audit_writer
//! target/release/examples/audit_writer EVENTS CONCURRENCY [DIR]
//! # instruction counts, stable on a busy machine: run twice and take the difference per event
//! valgrind --tool=callgrind target/release/examples/audit_writer 2000 64
//! valgrind --tool=callgrind target/release/examples/audit_writer 4000 64
//! ```
//!
//! `CONCURRENCY` tasks each record their share of `EVENTS` one after the other, waiting for each
//! to be durable, as that many keep-alive connections of a server would: a batch holds at most
//! `CONCURRENCY` events. The events are Encrypt records as the server writes them, built before
//! the clock starts. `DIR` (default: a temporary directory) holds the database, so the disk can
//! be chosen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use trent_audit::{AuditLog, Body, Call, Event, UserIdentity};
use trent_policy::AwsIdentity;
use trent_store::clock::SystemClock;
use trent_store::{Barrier, SqliteStore, Store};

fn event(i: usize, now_ms: i64) -> Event {
    let mut call = Call::new(
        format!("{:08x}-0000-4000-8000-000000000000", i),
        "127.0.0.1".parse().unwrap(),
        "000000000000".into(),
    );
    call.service = Some("kms".into());
    call.operation = Some("Encrypt".into());
    call.region = Some("us-east-1".into());
    call.user_agent = Some("trent-bench/0.1".into());
    call.identity = UserIdentity::Known {
        identity: AwsIdentity::from_arn("arn:aws:iam::111122223333:root").unwrap(),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
    };
    call.request = Body::Json(json!({
        "KeyId": "alias/bench",
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }));
    call.add_resource(
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    call.into_event(now_ms)
}

/// User and system CPU time of this process, in microseconds.
fn cpu_us() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which ends with ')'): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10_000
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(64)
        .max(1);
    let dir_arg = args.next();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let tmp = tempfile::tempdir_in(dir_arg.as_deref().unwrap_or("/tmp")).unwrap();
        let root = trent_crypto::SecretBytes::new(vec![7u8; 32]);
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(tmp.path(), Barrier::new(&root).unwrap()).await.unwrap());
        let log = Arc::new(AuditLog::open(Arc::clone(&store), Arc::new(SystemClock), true).await.unwrap());
        let now = trent_store::clock::Clock::now_ms(&SystemClock);
        let mut shares: Vec<Vec<Event>> = (0..concurrency).map(|_| Vec::new()).collect();
        for i in 0..events {
            shares[i % concurrency].push(event(i, now));
        }
        let record_bytes: usize = shares.iter().flatten().map(|e| e.record.len()).sum();
        let cpu0 = cpu_us();
        let t0 = Instant::now();
        let tasks: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    for e in share {
                        log.record(e).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let wall = t0.elapsed();
        let cpu = cpu_us().saturating_sub(cpu0);
        let tail = store.audit_tail().await.unwrap().map(|(s, _)| s).unwrap_or(0);
        assert_eq!(tail, events as i64, "every event is in the chain");
        let n = events.max(1) as f64;
        println!(
            "events={events} concurrency={concurrency} record_bytes_avg={} wall_ms={:.0} events_per_s={:.0} cpu_us_per_event={:.1}",
            record_bytes / events.max(1),
            wall.as_secs_f64() * 1e3,
            n / wall.as_secs_f64(),
            cpu as f64 / n,
        );
    });
}
