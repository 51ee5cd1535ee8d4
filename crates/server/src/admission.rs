//! Admission control: a bound on the requests being worked on at once, with a bounded wait.
//!
//! Past the machine's capacity, queueing more work only makes every answer late: each request
//! that is let in adds to the wait of all the others. So at most `max_in_flight` requests are
//! worked on at once (authentication, body, operation, audit); a request that cannot start in
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
//! Waiting requests are served in arrival order (the semaphore is fair).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The gate in front of the work. `max_in_flight == 0` turns it off (every request is admitted).
pub struct Admission {
    permits: Option<Arc<Semaphore>>,
    /// The wait allowed while overloaded; also the wait that counts as overload.
    queue_timeout: Duration,
    /// The wait allowed during a burst; also the length of an interval.
    burst_timeout: Duration,
    /// Requests that may wait at once.
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
    /// Shed since [`Admission::take_shed`] last ran.
    shed_since: AtomicU64,
    /// Shed since the server started.
    shed_total: AtomicU64,
}

/// A request may run while this is held.
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Admission {
    pub fn new(
        max_in_flight: usize,
        max_queued: usize,
        queue_timeout: Duration,
        burst_queue_timeout: Duration,
    ) -> Admission {
        Admission {
            permits: (max_in_flight > 0).then(|| Arc::new(Semaphore::new(max_in_flight))),
            queue_timeout,
            burst_timeout: burst_queue_timeout.max(queue_timeout),
            max_queued,
            epoch: Instant::now(),
            waiting: AtomicUsize::new(0),
            interval_start_ms: AtomicU64::new(0),
            interval_min_us: AtomicU64::new(u64::MAX),
            free_seen: AtomicBool::new(false),
            overloaded: AtomicBool::new(false),
            shed_since: AtomicU64::new(0),
            shed_total: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether every request admitted in the last interval waited longer than
    /// `queue_timeout`: the load exceeds the capacity, and waits are cut to `queue_timeout`.
    pub fn overloaded(&self) -> bool {
        self.overloaded.load(Ordering::Relaxed)
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
            let overloaded = if self.overloaded() {
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

    fn shed(&self) -> Option<Admitted> {
        self.shed_since.fetch_add(1, Ordering::Relaxed);
        self.shed_total.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Waits for room (see the module docs for how long); `None` means the request is to be
    /// shed.
    pub async fn admit(&self) -> Option<Admitted> {
        let Some(permits) = &self.permits else {
            return Some(Admitted { _permit: None });
        };
        // The common case takes no timer.
        match Arc::clone(permits).try_acquire_owned() {
            Ok(p) => {
                self.note_wait(Duration::ZERO);
                return Some(Admitted { _permit: Some(p) });
            }
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        if self.waiting.load(Ordering::Relaxed) >= self.max_queued {
            return self.shed();
        }
        let wait = if self.overloaded() {
            self.queue_timeout
        } else {
            self.burst_timeout
        };
        if wait.is_zero() {
            return self.shed();
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let got = tokio::time::timeout(wait, Arc::clone(permits).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.note_wait(started.elapsed());
        match got {
            Ok(Ok(p)) => Some(Admitted { _permit: Some(p) }),
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

    /// Requests being worked on now (0 when admission control is off).
    pub fn in_flight(&self, max_in_flight: usize) -> usize {
        self.permits
            .as_ref()
            .map_or(0, |p| max_in_flight.saturating_sub(p.available_permits()))
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
        assert_eq!(gate.in_flight(1), 1);
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
        while gate.waiting.load(Ordering::Relaxed) < 2 {
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

    async fn admit_all(gate: &Admission, n: usize) -> Vec<Admitted> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend(gate.admit().await);
        }
        v
    }
}
