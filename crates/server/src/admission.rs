//! Admission control: a bound on the requests being worked on at once, with a bounded wait.
//!
//! Past the machine's capacity, queueing more work only makes every answer late: each request
//! that is let in adds to the wait of all the others. So at most `max_in_flight` requests are
//! worked on at once (authentication, body, operation, making the audit event; the wait for
//! the event to be durable comes after the place is given back); a request that cannot start in
//! time is answered at once with the service's throttling error, which the AWS SDKs retry with
//! backoff. A shed request costs its headers' parse and a short answer: no body read, no
//! signature check, no store access, no audit event (it is counted instead, see
//! [`Admission::take_shed`]).
//!
//! Two bounds keep the latency of admitted requests near what the machine gives at its
//! capacity:
//!
//! - **The queue is short.** At most `max_queued` requests wait for a place; one that finds
//!   the queue full is shed at once, without a timer. Under a load several times the capacity
//!   this is what refuses the excess, at the cost of an answer, so the server keeps answering
//!   every request instead of letting a backlog build in the sockets.
//! - **A wait is short once the queue stands** (CoDel's signal, and the adaptive queue of "Fail
//!   at Scale"): the shortest wait among the requests admitted in an interval of
//!   `burst_queue_timeout` tells a burst (some request got through quickly) from overload
//!   (every request waited longer than `queue_timeout`). During a burst a request may wait up
//!   to `burst_queue_timeout`; once overloaded, only `queue_timeout`, until a request finds a
//!   free place at once (the load fell below the capacity).
//!
//! - **The places follow the CPU** (an adaptive limit, when `latency_target` is set): while
//!   the process uses nearly all the CPUs it may run on, each request admitted adds to the
//!   time of all the others, so the places are cut to what Little's law allows for the target
//!   (places = completions per second × `latency_target`, never below one per CPU nor by more
//!   than half in one window); they grow back when the CPUs have room or requests finish well
//!   within the target, and only while requests are kept waiting. A request that waits for a
//!   disk or a database holds its place without using a CPU, so work bound by input and
//!   output (group commits, which need many requests at once) never shrinks them. The queue
//!   shrinks in proportion.
//!
//! Waiting requests are served in arrival order (the semaphore is fair).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The share of its CPUs the process uses, over a window, from which the CPUs count as
/// saturated.
const SATURATED: f64 = 0.85;
/// How often the adaptive limit is reconsidered.
const WINDOW: Duration = Duration::from_millis(100);

/// The process's CPU time so far (user and system, every thread).
pub type CpuClock = Box<dyn Fn() -> Duration + Send + Sync>;

/// The CPU time of this process, from `CLOCK_PROCESS_CPUTIME_ID`.
pub fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// How the places of the adaptive limit are sized (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Controller {
    /// `max_in_flight`: the places never exceed it.
    max: usize,
    /// One place per CPU (at least two): the places never fall below it.
    floor: usize,
    /// The CPUs the process may run on.
    cpus: usize,
    /// The mean time a request should be worked on while the CPUs are saturated.
    target: Duration,
}

/// What one window measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Window {
    elapsed: Duration,
    /// Admitted requests that finished in the window, and the sum of the times they were
    /// worked on (from admission to their answer).
    completed: u64,
    worked: Duration,
    /// CPU time the process used in the window.
    cpu: Duration,
    /// Whether a request found every place taken.
    limited: bool,
}

impl Controller {
    /// The places for the next window.
    fn next(&self, places: usize, w: &Window) -> usize {
        let secs = w.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return places;
        }
        let saturated = w.cpu.as_secs_f64() / (secs * self.cpus as f64) >= SATURATED;
        let mean = if w.completed == 0 {
            Duration::ZERO
        } else {
            w.worked / u32::try_from(w.completed).unwrap_or(u32::MAX)
        };
        if saturated && w.completed > 0 && mean > self.target {
            // Little's law: at the throughput the CPUs give, this many requests at once are
            // worked on for `target` each.
            let throughput = w.completed as f64 / secs;
            let fit = (throughput * self.target.as_secs_f64()).ceil() as usize;
            return fit.max(places / 2).max(self.floor).min(places);
        }
        if w.limited && places < self.max && (!saturated || mean < self.target * 3 / 4) {
            // Room on the CPUs: grow by a quarter; saturated but fast: one place at a time.
            let step = if saturated { 1 } else { (places / 4).max(1) };
            return (places + step).min(self.max);
        }
        places
    }
}

/// The gate in front of the work. `max_in_flight == 0` turns it off (every request is admitted).
pub struct Admission {
    gate: Option<Arc<Gate>>,
    /// Shed since [`Admission::take_shed`] last ran.
    shed_since: AtomicU64,
    /// Shed since the server started.
    shed_total: AtomicU64,
}

struct Gate {
    permits: Arc<Semaphore>,
    /// `max_in_flight`.
    max: usize,
    /// Places usable now (`max` unless the adaptive limit cut them).
    places: AtomicUsize,
    /// Permits to be forgotten as they come back: the part of a cut that was in use.
    debt: AtomicUsize,
    /// The wait allowed while overloaded; also the wait that counts as overload.
    queue_timeout: Duration,
    /// The wait allowed during a burst; also the length of an interval.
    burst_timeout: Duration,
    /// Requests that may wait at once, with every place usable.
    max_queued: usize,
    epoch: Instant,
    /// Requests waiting for a place now.
    waiting: AtomicUsize,
    /// Start (ms after `epoch`) of the current interval, and the shortest wait (µs) of a
    /// request admitted in it.
    interval_start_ms: AtomicU64,
    interval_min_us: AtomicU64,
    /// Whether a request of the current interval found a free place at once.
    free_seen: AtomicBool,
    /// Overloaded since an interval in which every request waited longer than
    /// `queue_timeout`, until one in which a request found a free place at once.
    overloaded: AtomicBool,
    adaptive: Option<Adaptive>,
}

/// The measurements of the adaptive limit's current window.
struct Adaptive {
    controller: Controller,
    cpu_clock: CpuClock,
    /// Start of the window (µs after the gate's epoch), and the CPU time then.
    window_start_us: AtomicU64,
    window_cpu: Mutex<Duration>,
    completed: AtomicU64,
    worked_us: AtomicU64,
    limited: AtomicBool,
}

/// A request may run while this is held.
pub struct Admitted {
    held: Option<(Arc<Gate>, OwnedSemaphorePermit, Instant)>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((gate, permit, since)) = self.held.take() {
            gate.finished(permit, since);
        }
    }
}

impl Admission {
    pub fn new(
        max_in_flight: usize,
        max_queued: usize,
        queue_timeout: Duration,
        burst_queue_timeout: Duration,
    ) -> Admission {
        Self::adaptive(
            max_in_flight,
            max_queued,
            queue_timeout,
            burst_queue_timeout,
            Duration::ZERO,
            Box::new(process_cpu_time),
        )
    }

    /// A gate whose places follow the CPU (see the module docs) when `latency_target` is not
    /// zero; `cpu_clock` tells the process's CPU time.
    pub fn adaptive(
        max_in_flight: usize,
        max_queued: usize,
        queue_timeout: Duration,
        burst_queue_timeout: Duration,
        latency_target: Duration,
        cpu_clock: CpuClock,
    ) -> Admission {
        let epoch = Instant::now();
        let adaptive = (!latency_target.is_zero()).then(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let window_cpu = Mutex::new(cpu_clock());
            Adaptive {
                controller: Controller {
                    max: max_in_flight,
                    floor: cpus.max(2).min(max_in_flight),
                    cpus,
                    target: latency_target,
                },
                cpu_clock,
                window_start_us: AtomicU64::new(0),
                window_cpu,
                completed: AtomicU64::new(0),
                worked_us: AtomicU64::new(0),
                limited: AtomicBool::new(false),
            }
        });
        Admission {
            gate: (max_in_flight > 0).then(|| {
                Arc::new(Gate {
                    permits: Arc::new(Semaphore::new(max_in_flight)),
                    max: max_in_flight,
                    places: AtomicUsize::new(max_in_flight),
                    debt: AtomicUsize::new(0),
                    queue_timeout,
                    burst_timeout: burst_queue_timeout.max(queue_timeout),
                    max_queued,
                    epoch,
                    waiting: AtomicUsize::new(0),
                    interval_start_ms: AtomicU64::new(0),
                    interval_min_us: AtomicU64::new(u64::MAX),
                    free_seen: AtomicBool::new(false),
                    overloaded: AtomicBool::new(false),
                    adaptive,
                })
            }),
            shed_since: AtomicU64::new(0),
            shed_total: AtomicU64::new(0),
        }
    }

    /// Whether every request admitted in the last interval waited longer than
    /// `queue_timeout`: the load exceeds the capacity, and waits are cut to `queue_timeout`.
    pub fn overloaded(&self) -> bool {
        self.gate
            .as_ref()
            .is_some_and(|g| g.overloaded.load(Ordering::Relaxed))
    }

    /// The places usable now: `max_in_flight`, or fewer while the adaptive limit has cut
    /// them (0 when admission control is off).
    pub fn places(&self) -> usize {
        self.gate
            .as_ref()
            .map_or(0, |g| g.places.load(Ordering::Relaxed))
    }

    fn shed(&self) -> Option<Admitted> {
        self.shed_since.fetch_add(1, Ordering::Relaxed);
        self.shed_total.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Waits for room (see the module docs for how long); `None` means the request is to be
    /// shed.
    pub async fn admit(&self) -> Option<Admitted> {
        let Some(gate) = &self.gate else {
            return Some(Admitted { held: None });
        };
        let admitted = |permit| {
            Some(Admitted {
                held: Some((Arc::clone(gate), permit, Instant::now())),
            })
        };
        // The common case takes no timer.
        match Arc::clone(&gate.permits).try_acquire_owned() {
            Ok(p) => {
                gate.note_wait(Duration::ZERO);
                return admitted(p);
            }
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        if let Some(a) = &gate.adaptive {
            a.limited.store(true, Ordering::Relaxed);
        }
        if gate.waiting.load(Ordering::Relaxed) >= gate.queue_bound() {
            return self.shed();
        }
        let wait = if gate.overloaded.load(Ordering::Relaxed) {
            gate.queue_timeout
        } else {
            gate.burst_timeout
        };
        if wait.is_zero() {
            return self.shed();
        }
        gate.waiting.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let got = tokio::time::timeout(wait, Arc::clone(&gate.permits).acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::Relaxed);
        gate.note_wait(started.elapsed());
        match got {
            Ok(Ok(p)) => admitted(p),
            _ => self.shed(),
        }
    }

    /// Requests shed since the last call (for the periodic log line).
    pub fn take_shed(&self) -> u64 {
        self.shed_since.swap(0, Ordering::Relaxed)
    }

    /// Requests shed since the server started.
    pub fn shed_total(&self) -> u64 {
        self.shed_total.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn queue_bound_now(&self) -> usize {
        self.gate.as_ref().map_or(0, |g| g.queue_bound())
    }

    /// Requests being worked on now (0 when admission control is off).
    pub fn in_flight(&self) -> usize {
        self.gate.as_ref().map_or(0, |g| {
            // The semaphore holds `places + debt` permits in all.
            (g.places.load(Ordering::Relaxed) + g.debt.load(Ordering::Relaxed))
                .saturating_sub(g.permits.available_permits())
        })
    }
}

impl Gate {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Requests that may wait now: `max_queued`, in proportion to the places usable.
    fn queue_bound(&self) -> usize {
        let places = self.places.load(Ordering::Relaxed);
        if places >= self.max {
            return self.max_queued;
        }
        (self.max_queued * places).div_ceil(self.max)
    }

    /// Notes how long an admitted (or timed-out) request waited; ends the interval when it
    /// has run its length.
    fn note_wait(&self, waited: Duration) {
        let waited_us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let start = self.interval_start_ms.load(Ordering::Relaxed);
        let length = u64::try_from(self.burst_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        if now.saturating_sub(start) < length {
            self.interval_min_us.fetch_min(waited_us, Ordering::Relaxed);
            if waited.is_zero() {
                self.free_seen.store(true, Ordering::Relaxed);
            }
            return;
        }
        // One caller ends the interval; the others fall into the next one.
        if self
            .interval_start_ms
            .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let shortest = self.interval_min_us.swap(waited_us, Ordering::Relaxed);
            let free = self.free_seen.swap(waited.is_zero(), Ordering::Relaxed);
            let target = u64::try_from(self.queue_timeout.as_micros()).unwrap_or(u64::MAX);
            // Overload starts with an interval in which every request waited longer than the
            // target, and lasts until a request finds a free place at once: while it lasts,
            // waits are cut to the target, so they no longer show it. (An interval without any
            // admission, shortest = MAX, changes nothing.)
            let overloaded = if self.overloaded.load(Ordering::Relaxed) {
                !free
            } else {
                shortest != u64::MAX && shortest > target
            };
            self.overloaded.store(overloaded, Ordering::Relaxed);
        } else {
            self.interval_min_us.fetch_min(waited_us, Ordering::Relaxed);
            if waited.is_zero() {
                self.free_seen.store(true, Ordering::Relaxed);
            }
        }
    }

    /// An admitted request has been answered: its place returns (or pays off a cut), and the
    /// adaptive limit counts it.
    fn finished(&self, permit: OwnedSemaphorePermit, since: Instant) {
        let repaid = self
            .debt
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1))
            .is_ok();
        if repaid {
            permit.forget();
        } else {
            drop(permit);
        }
        let Some(a) = &self.adaptive else { return };
        let now = Instant::now();
        let worked = u64::try_from(now.duration_since(since).as_micros()).unwrap_or(u64::MAX);
        a.completed.fetch_add(1, Ordering::Relaxed);
        a.worked_us.fetch_add(worked, Ordering::Relaxed);
        let now_us = u64::try_from(now.duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX);
        let start = a.window_start_us.load(Ordering::Relaxed);
        let length = u64::try_from(WINDOW.as_micros()).unwrap_or(u64::MAX);
        if now_us.saturating_sub(start) < length {
            return;
        }
        // One caller ends the window (and holds the lock while it resizes).
        let Ok(mut window_cpu) = a.window_cpu.try_lock() else {
            return;
        };
        if a.window_start_us
            .compare_exchange(start, now_us, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let cpu = (a.cpu_clock)();
        let window = Window {
            elapsed: Duration::from_micros(now_us - start),
            completed: a.completed.swap(0, Ordering::Relaxed),
            worked: Duration::from_micros(a.worked_us.swap(0, Ordering::Relaxed)),
            cpu: cpu.saturating_sub(*window_cpu),
            limited: a.limited.swap(false, Ordering::Relaxed),
        };
        *window_cpu = cpu;
        let places = self.places.load(Ordering::Relaxed);
        let next = a.controller.next(places, &window);
        if next != places {
            tracing::debug!(places, next, ?window, "admission: places resized");
            self.resize(places, next);
        }
    }

    /// Changes the usable places from `from` to `to` (only the caller holding the window's
    /// lock does).
    fn resize(&self, from: usize, to: usize) {
        self.places.store(to, Ordering::Relaxed);
        if to < from {
            // Take the free permits out now; the ones in use are forgotten as they return.
            let mut cut = from - to;
            while cut > 0 {
                match self.permits.try_acquire() {
                    Ok(p) => {
                        p.forget();
                        cut -= 1;
                    }
                    Err(_) => break,
                }
            }
            self.debt.fetch_add(cut, Ordering::Relaxed);
        } else {
            // Cancel what is still owed first; add the rest.
            let mut add = to - from;
            let owed = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d - d.min(add))
                })
                .unwrap_or(0);
            add -= owed.min(add);
            if add > 0 {
                self.permits.add_permits(add);
            }
        }
    }
}

/// Writes one log line per `interval` in which requests were shed, until dropped: under
/// overload the operator learns how much was turned away without an event per request.
pub(crate) async fn report_shed(state: Arc<crate::State>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let shed = state.admission.take_shed();
        if shed > 0 {
            tracing::warn!(
                shed,
                seconds = interval.as_secs_f64(),
                total = state.admission.shed_total(),
                max_in_flight = state.limits.max_in_flight,
                places = state.admission.places(),
                queue_timeout_ms = state.limits.queue_timeout.as_millis() as u64,
                overloaded = state.admission.overloaded(),
                "overloaded: requests shed with a throttling error"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_sheds_after_the_queue_timeout_and_admits_when_room_returns() {
        let gate = Arc::new(Admission::new(
            1,
            64,
            Duration::from_millis(5),
            Duration::ZERO,
        ));
        let first = gate.admit().await.expect("room for one");
        // Full: the second waits out the queue timeout, then is shed.
        assert!(gate.admit().await.is_none());
        assert_eq!(gate.shed_total(), 1);
        assert_eq!(gate.take_shed(), 1);
        assert_eq!(gate.take_shed(), 0);
        assert_eq!(gate.in_flight(), 1);
        // A waiter gets the permit as soon as it is released within its (here long) wait.
        let patient = Arc::new(Admission::new(
            1,
            64,
            Duration::from_secs(60),
            Duration::ZERO,
        ));
        let held = patient.admit().await.expect("room for one");
        let waiter = tokio::spawn({
            let g = Arc::clone(&patient);
            async move { g.admit().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert!(waiter.await.unwrap());
        assert_eq!(patient.shed_total(), 0);
        drop(first);
        assert!(gate.admit().await.is_some());
    }

    #[tokio::test]
    async fn zero_queue_timeout_sheds_at_once_and_zero_in_flight_is_off() {
        let gate = Admission::new(1, 64, Duration::ZERO, Duration::ZERO);
        let _held = gate.admit().await.expect("room for one");
        assert!(gate.admit().await.is_none());
        let off = Admission::new(0, 0, Duration::ZERO, Duration::ZERO);
        let held: Vec<_> = admit_all(&off, 100).await;
        assert_eq!(held.len(), 100);
        assert_eq!(off.shed_total(), 0);
    }

    #[tokio::test]
    async fn a_burst_may_wait_longer_than_a_standing_queue() {
        let gate = Arc::new(Admission::new(
            1,
            64,
            Duration::from_millis(5),
            Duration::from_millis(300),
        ));
        assert!(!gate.overloaded());
        // The only place passes from request to request, each of which waited 50 ms for it:
        // admitted while it looks like a burst; once a whole interval (300 ms) had no request
        // that got in within 5 ms, the queue stands.
        let mut held = gate.admit().await.expect("room for one");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gate.overloaded() {
            assert!(Instant::now() < deadline, "never overloaded");
            let next = tokio::spawn({
                let g = Arc::clone(&gate);
                async move { g.admit().await }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
            held = next
                .await
                .unwrap()
                .expect("a 50 ms wait in a burst is admitted");
        }
        // Overloaded: a request waits only 5 ms before it is shed.
        let started = Instant::now();
        assert!(gate.admit().await.is_none());
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "shed after the short wait, not the burst wait: {:?}",
            started.elapsed()
        );
        // An interval with a request that got in at once ends the overload.
        drop(held);
        drop(gate.admit().await.expect("room"));
        tokio::time::sleep(Duration::from_millis(320)).await;
        drop(gate.admit().await.expect("room"));
        assert!(!gate.overloaded());
    }

    #[tokio::test]
    async fn a_full_queue_sheds_at_once() {
        let gate = Arc::new(Admission::new(
            1,
            2,
            Duration::from_secs(10),
            Duration::from_secs(10),
        ));
        let held = gate.admit().await.expect("room for one");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&gate);
                tokio::spawn(async move { g.admit().await.is_some() })
            })
            .collect();
        while gate.gate.as_ref().unwrap().waiting.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        assert!(gate.admit().await.is_none(), "the queue is full");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(gate.shed_total(), 1);
        drop(held);
        for w in waiters {
            assert!(w.await.unwrap());
        }
    }

    fn window(cpu_share: f64, completed: u64, mean_ms: f64, limited: bool) -> Window {
        let elapsed = Duration::from_millis(100);
        Window {
            elapsed,
            completed,
            worked: Duration::from_secs_f64(mean_ms / 1000.0 * completed as f64),
            cpu: elapsed.mul_f64(cpu_share),
            limited,
        }
    }

    #[test]
    fn saturated_cpus_cut_the_places_to_what_the_target_allows() {
        let c = Controller {
            max: 32,
            floor: 2,
            cpus: 1,
            target: Duration::from_millis(3),
        };
        // RSA signing on one core: 250 answers in 100 ms (2,500/s), 32 at once, 12.8 ms each.
        // Little's law allows 2,500 × 3 ms = 7.5 places; no more than half goes at once.
        let w = window(0.97, 250, 12.8, true);
        assert_eq!(c.next(32, &w), 16);
        assert_eq!(c.next(16, &w), 8);
        assert_eq!(c.next(10, &w), 8);
        // Never below the floor, never up while too slow.
        assert_eq!(c.next(8, &window(1.0, 10, 50.0, true)), 4);
        assert_eq!(c.next(3, &window(1.0, 10, 50.0, true)), 2);
        assert_eq!(c.next(2, &window(1.0, 10, 50.0, true)), 2);
        // Within the target: unchanged while it lies between three quarters of it and it, one
        // more place when well under it and requests were kept waiting.
        assert_eq!(c.next(8, &window(0.97, 250, 2.9, true)), 8);
        assert_eq!(c.next(8, &window(0.97, 250, 1.0, true)), 9);
        assert_eq!(c.next(8, &window(0.97, 250, 1.0, false)), 8);
        assert_eq!(c.next(32, &window(0.97, 250, 1.0, true)), 32);
    }

    #[test]
    fn waits_for_the_disk_never_cut_the_places() {
        let c = Controller {
            max: 32,
            floor: 2,
            cpus: 2,
            target: Duration::from_millis(3),
        };
        // Group commits on a slow disk: 32 at once, 30 ms each, the CPUs mostly idle. Cutting
        // the places would only make the batches smaller.
        assert_eq!(c.next(32, &window(0.3, 100, 30.0, true)), 32);
        // With room on the CPUs, cut places grow back by a quarter while requests wait...
        assert_eq!(c.next(8, &window(0.3, 100, 30.0, true)), 10);
        assert_eq!(c.next(30, &window(0.3, 100, 30.0, true)), 32);
        // ... and stay as they are when nobody waited.
        assert_eq!(c.next(8, &window(0.3, 100, 30.0, false)), 8);
        // Both CPUs busy counts as saturated; one of two does not.
        assert_eq!(c.next(32, &window(1.8, 250, 12.0, true)), 16);
        assert_eq!(c.next(32, &window(1.0, 250, 12.0, true)), 32);
        // A window with no answer changes nothing when saturated.
        assert_eq!(c.next(32, &window(2.0, 0, 0.0, true)), 32);
    }

    /// A CPU clock the test moves.
    fn fake_cpu() -> (Arc<Mutex<Duration>>, CpuClock) {
        let cpu = Arc::new(Mutex::new(Duration::ZERO));
        let read = Arc::clone(&cpu);
        (cpu, Box::new(move || *read.lock().unwrap()))
    }

    #[tokio::test]
    async fn cut_places_are_taken_out_as_they_return_and_given_back_later() {
        let (cpu, clock) = fake_cpu();
        let gate = Admission::adaptive(
            8,
            8,
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_millis(1),
            clock,
        );
        let g = gate.gate.as_ref().unwrap();
        assert_eq!(gate.places(), 8);
        // Eight requests at once, each worked on for ~120 ms while the process keeps every
        // CPU busy: the window that ends with them halves the places.
        let mut held = admit_all(&gate, 8).await;
        assert!(gate.admit().await.is_none(), "all eight places are taken");
        tokio::time::sleep(Duration::from_millis(120)).await;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        *cpu.lock().unwrap() = Duration::from_millis(200) * u32::try_from(cpus).unwrap();
        held.pop();
        let floor = cpus.max(2);
        let cut = 4.max(floor).min(8);
        assert_eq!(gate.places(), cut);
        // The cut was made while seven were held: returning ones pay it off before a new
        // request gets in.
        for _ in cut..7 {
            held.pop();
            assert!(
                gate.admit().await.is_none(),
                "the cut is still being paid off"
            );
        }
        assert_eq!(g.debt.load(Ordering::Relaxed), 0);
        assert_eq!(gate.in_flight(), cut);
        assert_eq!(gate.queue_bound_now(), cut);
        held.pop();
        held.push(gate.admit().await.expect("a place returned"));
        assert_eq!(gate.in_flight(), cut);
        // The CPUs idle, requests kept waiting: the places grow back by a quarter a window.
        assert!(gate.admit().await.is_none());
        tokio::time::sleep(Duration::from_millis(110)).await;
        held.pop();
        assert_eq!(gate.places(), (cut + (cut / 4).max(1)).min(8));
        drop(held);
        assert_eq!(gate.in_flight(), 0);
        let all = admit_all(&gate, 8).await;
        assert_eq!(all.len(), gate.places());
    }

    async fn admit_all(gate: &Admission, n: usize) -> Vec<Admitted> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend(gate.admit().await);
        }
        v
    }
}
