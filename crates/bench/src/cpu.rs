//! CPU accounting from `/proc` (Linux): how much CPU the server process, this client and
//! everything else used during the measured window, so a result can be read as CPU per request
//! and a run disturbed by other work on the machine shows it.

use std::time::Instant;

/// Clock ticks per second of `/proc` times (`USER_HZ`; 100 on every mainstream Linux build).
const TICKS_PER_SEC: f64 = 100.0;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    /// utime + stime of the server process, if one was named and is readable.
    server: Option<u64>,
    /// utime + stime of this process.
    client: Option<u64>,
    /// Busy and total ticks of the whole machine, summed over CPUs.
    machine: Option<(u64, u64)>,
}

/// CPU use over a window, in cores (1.0 = one CPU busy for the whole window).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub server: Option<f64>,
    pub client: Option<f64>,
    /// Busy CPU not used by the server or the client (other processes, interrupts).
    pub other: Option<f64>,
    /// CPUs in the machine, as seen in the tick totals.
    pub cpus: Option<f64>,
}

fn process_ticks(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    // After ')': state (3), ppid (4), ... utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some((busy, busy + idle))
}

pub fn sample(server_pid: Option<u32>) -> Sample {
    Sample {
        at: Instant::now(),
        server: server_pid.and_then(|p| process_ticks(&format!("/proc/{p}/stat"))),
        client: process_ticks("/proc/self/stat"),
        machine: machine_ticks(),
    }
}

pub fn usage(a: &Sample, b: &Sample) -> Usage {
    let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let cores =
        |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x?) as f64 / TICKS_PER_SEC / secs);
    let server = cores(a.server, b.server);
    let client = cores(a.client, b.client);
    let busy = cores(a.machine.map(|m| m.0), b.machine.map(|m| m.0));
    let total = cores(a.machine.map(|m| m.1), b.machine.map(|m| m.1));
    let other = busy.map(|b| (b - server.unwrap_or(0.0) - client.unwrap_or(0.0)).max(0.0));
    Usage {
        server,
        client,
        other: if server.is_some() { other } else { None },
        cpus: total,
    }
}
