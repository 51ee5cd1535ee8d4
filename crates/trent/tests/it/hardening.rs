//! Process hardening of `trent serve` (Linux): core dumps off unless `--allow-core-dumps`, and
//! `--mlock` locking the server's memory or stopping the start with the limit named.
//!
//! The server runs as the real binary, observed from outside through `/proc/<pid>/`. When the
//! tests run as root, the server is started as `nobody` (setpriv), because `/proc/<pid>/` files
//! turn root-owned when a process is not dumpable, which only shows for a non-root process.
//! `prlimit` (util-linux) sets the limits the server starts with.
#![cfg(target_os = "linux")]

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::MetadataExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;
/// Bit of CAP_IPC_LOCK in the capability sets of /proc/<pid>/status.
const CAP_IPC_LOCK: u32 = 14;

struct Server {
    child: Child,
    /// The uid the server runs as.
    uid: u32,
    log: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn own_uid() -> u32 {
    // /proc/self is owned by the effective uid (the test process is dumpable).
    std::fs::metadata("/proc/self").unwrap().uid()
}

fn has_capability(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(eff, 16).unwrap() & (1 << bit) != 0
}

/// The soft and hard values of one row of /proc/<pid>/limits, e.g. "Max core file size".
fn limit(pid: &str, row: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with(row)).unwrap();
    let mut fields = line[row.len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// Starts `trent serve` with `args`, limits set by `prlimit` (`--core=...` and the like),
/// as `nobody` when the tests run as root and `as_nobody` is set. `Err` holds the output of a
/// server that exited instead of listening.
fn start(prlimits: &[&str], args: &[&str], as_nobody: bool) -> Result<Server, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd;
    let uid = if as_nobody && own_uid() == 0 {
        std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "prlimit",
        ]);
        NOBODY
    } else {
        cmd = Command::new("prlimit");
        own_uid()
    };
    cmd.args(prlimits)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_trent"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("TRENT_ALLOW_CORE_DUMPS")
        .env_remove("TRENT_MLOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("setpriv and prlimit (util-linux) are needed");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let log = read_until_listening(&rx);
    match log {
        Ok(log) => Ok(Server {
            child,
            uid,
            log,
            _dir: dir,
        }),
        Err(mut log) => {
            let status = child.wait().unwrap();
            assert!(!status.success(), "trent stopped without error: {log:?}");
            log.extend(rx.try_iter());
            Err(log.join("\n"))
        }
    }
}

/// The log lines up to the one that gives the listening address; `Err` with the lines so far
/// if the server's output ended first.
fn read_until_listening(rx: &Receiver<String>) -> Result<Vec<String>, Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let listening = serde_json::from_str::<serde_json::Value>(&line)
                    .is_ok_and(|event| event["addr"].is_string());
                lines.push(line);
                if listening {
                    return Ok(lines);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(lines),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("trent neither listened nor stopped: {lines:?}")
            }
        }
    }
}

impl Server {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// The owner of /proc/<pid>/status: the server's uid while it is dumpable, root once not.
    fn proc_owner(&self) -> u32 {
        std::fs::metadata(format!("/proc/{}/status", self.pid()))
            .unwrap()
            .uid()
    }

    fn status_field(&self, name: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/<pid>/status"))
            .trim()
            .to_owned()
    }

    fn logged(&self, message: &str) -> bool {
        self.log.iter().any(|l| l.contains(message))
    }
}

/// The hard core size limit of this process, which the server may be started with.
fn core_hard_limit() -> String {
    limit("self", "Max core file size").1
}

#[test]
fn serve_disables_core_dumps_by_default() {
    let hard = core_hard_limit();
    assert_ne!(
        hard, "0",
        "this test needs a core size limit above 0 to start from"
    );
    let core = format!("--core={hard}:{hard}");
    let server = start(&[&core], &[], true).unwrap();
    assert_eq!(
        limit(&server.pid(), "Max core file size"),
        ("0".to_owned(), "0".to_owned())
    );
    assert!(server.uid != 0, "the server runs as a non-root user");
    assert_eq!(
        server.proc_owner(),
        0,
        "not dumpable: /proc/<pid>/ is root's"
    );
    assert!(server.logged("core dumps disabled"), "{:?}", server.log);
}

#[test]
fn allow_core_dumps_keeps_the_limit_and_the_dumpable_flag() {
    let hard = core_hard_limit();
    assert_ne!(
        hard, "0",
        "this test needs a core size limit above 0 to start from"
    );
    let core = format!("--core={hard}:{hard}");
    let server = start(&[&core], &["--allow-core-dumps"], true).unwrap();
    assert_eq!(
        limit(&server.pid(), "Max core file size"),
        (hard.clone(), hard)
    );
    assert_eq!(server.proc_owner(), server.uid, "still dumpable");
    assert!(server.logged("core dumps allowed"), "{:?}", server.log);
}

#[test]
fn mlock_locks_the_server_memory_or_refuses_to_start() {
    match start(&[], &["--mlock"], false) {
        Ok(server) => {
            let locked = server.status_field("VmLck:");
            let kb: u64 = locked.trim_end_matches("kB").trim().parse().unwrap();
            assert!(kb > 0, "VmLck: {locked}");
            assert!(server.logged("locked in RAM"), "{:?}", server.log);
        }
        Err(out) => {
            // Only a process without CAP_IPC_LOCK may be refused, and it must be told why.
            assert!(!has_capability(CAP_IPC_LOCK), "{out}");
            assert!(out.contains("RLIMIT_MEMLOCK"), "{out}");
        }
    }
}

#[test]
fn mlock_beyond_the_memlock_limit_stops_the_start_with_the_limit_named() {
    // As nobody (when root) the server has no CAP_IPC_LOCK, so a zero limit must refuse it.
    if own_uid() != 0 && has_capability(CAP_IPC_LOCK) {
        eprintln!("skipped: this process has CAP_IPC_LOCK without being root");
        return;
    }
    let out = start(&["--memlock=0:0"], &["--mlock"], true)
        .err()
        .expect("trent started with --mlock and a zero locked-memory limit");
    assert!(out.contains("--mlock: cannot lock"), "{out}");
    assert!(out.contains("RLIMIT_MEMLOCK) is 0 bytes"), "{out}");
}
