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
//! How long a request may wait depends on whether the server is overloaded or only meeting a
//! burst (the adaptive queue of "Fail at Scale", CoDel's idea): while a request found a free
//! place within the last `burst_queue_timeout`, the queue is draining and a request may wait
//! that long; once no request has found a free place for that long, the queue is standing (the
//! load exceeds the capacity) and a request may wait only `queue_timeout`, so the latency of
//! those admitted stays close to what the machine gives at its capacity. Waiting requests are
//! served in arrival order (the semaphore is fair).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The gate in front of the work. `max_in_flight == 0` turns it off (every request is admitted).
pub struct Admission {
    permits: Option<Arc<Semaphore>>,
    /// The wait allowed while overloaded.
    queue_timeout: Duration,
    /// The wait allowed while the queue drains, and how long it may stand before that counts
    /// as overload.
    burst_timeout: Duration,
    epoch: Instant,
    /// When (ms after `epoch`) a request last found a free place with nobody waiting.
    last_free_ms: AtomicU64,
    /// Requests waiting for a place now.
    waiting: AtomicUsize,
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
        queue_timeout: Duration,
        burst_queue_timeout: Duration,
    ) -> Admission {
        Admission {
            permits: (max_in_flight > 0).then(|| Arc::new(Semaphore::new(max_in_flight))),
            queue_timeout,
            burst_timeout: burst_queue_timeout.max(queue_timeout),
            epoch: Instant::now(),
            last_free_ms: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            shed_since: AtomicU64::new(0),
            shed_total: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether no request has found a free place for `burst_queue_timeout`: the load exceeds
    /// the capacity, and waits are cut to `queue_timeout`.
    pub fn overloaded(&self) -> bool {
        let since = self
            .now_ms()
            .saturating_sub(self.last_free_ms.load(Ordering::Relaxed));
        u128::from(since) > self.burst_timeout.as_millis()
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
                if self.waiting.load(Ordering::Relaxed) == 0 {
                    self.last_free_ms.store(self.now_ms(), Ordering::Relaxed);
                }
                return Some(Admitted { _permit: Some(p) });
            }
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        let wait = if self.overloaded() {
            self.queue_timeout
        } else {
            self.burst_timeout
        };
        if !wait.is_zero() {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let got = tokio::time::timeout(wait, Arc::clone(permits).acquire_owned()).await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            if let Ok(Ok(p)) = got {
                return Some(Admitted { _permit: Some(p) });
            }
        }
        self.shed_since.fetch_add(1, Ordering::Relaxed);
        self.shed_total.fetch_add(1, Ordering::Relaxed);
        None
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
        let gate = Arc::new(Admission::new(1, Duration::from_millis(5), Duration::ZERO));
        let first = gate.admit().await.expect("room for one");
        // Full: the second waits out the queue timeout, then is shed.
        assert!(gate.admit().await.is_none());
        assert_eq!(gate.shed_total(), 1);
        assert_eq!(gate.take_shed(), 1);
        assert_eq!(gate.take_shed(), 0);
        assert_eq!(gate.in_flight(1), 1);
        // A waiter gets the permit as soon as it is released within its (here long) wait.
        let patient = Arc::new(Admission::new(1, Duration::from_secs(60), Duration::ZERO));
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
        let gate = Admission::new(1, Duration::ZERO, Duration::ZERO);
        let _held = gate.admit().await.expect("room for one");
        assert!(gate.admit().await.is_none());
        let off = Admission::new(0, Duration::ZERO, Duration::ZERO);
        let held: Vec<_> = admit_all(&off, 100).await;
        assert_eq!(held.len(), 100);
        assert_eq!(off.shed_total(), 0);
    }

    #[tokio::test]
    async fn a_burst_may_wait_longer_than_a_standing_queue() {
        let gate = Arc::new(Admission::new(
            1,
            Duration::from_millis(5),
            Duration::from_millis(300),
        ));
        // A place was free just now: a burst, so a request may wait up to 300 ms.
        let held = gate.admit().await.expect("room for one");
        assert!(!gate.overloaded());
        let waiter = tokio::spawn({
            let g = Arc::clone(&gate);
            async move { g.admit().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.unwrap(), "a 50 ms wait in a burst is admitted");

        // The place stays taken for longer than 300 ms: the queue stands, and from then on a
        // request waits only 5 ms before it is shed.
        let held = gate.admit().await.expect("room for one");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(gate.overloaded());
        let started = Instant::now();
        assert!(gate.admit().await.is_none());
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "shed after the short wait, not the burst wait: {:?}",
            started.elapsed()
        );
        // A free place ends the overload.
        drop(held);
        let again = gate.admit().await.expect("room again");
        assert!(!gate.overloaded());
        drop(again);
    }

    async fn admit_all(gate: &Admission, n: usize) -> Vec<Admitted> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend(gate.admit().await);
        }
        v
    }
}
