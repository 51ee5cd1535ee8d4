//! Admission control: a bound on the requests being worked on at once, with a bounded wait.
//!
//! Past the machine's capacity, queueing more work only makes every answer late: each request
//! that is let in adds to the wait of all the others. So at most `max_in_flight` requests are
//! worked on at once (authentication, body, operation, audit); a request that cannot start
//! within `queue_timeout` is answered at once with the service's throttling error, which the
//! AWS SDKs retry with backoff. A shed request costs its headers' parse and a short answer: no
//! body read, no signature check, no store access, no audit event (it is counted instead, see
//! [`Admission::take_shed`]).
//!
//! Waiting requests are served in arrival order (the semaphore is fair), so the wait of an
//! admitted request is bounded by `queue_timeout` and the latency of those admitted stays close
//! to what the machine gives at its capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The gate in front of the work. `max_in_flight == 0` turns it off (every request is admitted).
pub struct Admission {
    permits: Option<Arc<Semaphore>>,
    queue_timeout: Duration,
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
    pub fn new(max_in_flight: usize, queue_timeout: Duration) -> Admission {
        Admission {
            permits: (max_in_flight > 0).then(|| Arc::new(Semaphore::new(max_in_flight))),
            queue_timeout,
            shed_since: AtomicU64::new(0),
            shed_total: AtomicU64::new(0),
        }
    }

    /// Waits up to `queue_timeout` for room; `None` means the request is to be shed.
    pub async fn admit(&self) -> Option<Admitted> {
        let Some(permits) = &self.permits else {
            return Some(Admitted { _permit: None });
        };
        // The common case takes no timer.
        match Arc::clone(permits).try_acquire_owned() {
            Ok(p) => return Some(Admitted { _permit: Some(p) }),
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        if !self.queue_timeout.is_zero()
            && let Ok(Ok(p)) =
                tokio::time::timeout(self.queue_timeout, Arc::clone(permits).acquire_owned()).await
        {
            return Some(Admitted { _permit: Some(p) });
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
        let gate = Arc::new(Admission::new(1, Duration::from_millis(5)));
        let first = gate.admit().await.expect("room for one");
        // Full: the second waits out the queue timeout, then is shed.
        assert!(gate.admit().await.is_none());
        assert_eq!(gate.shed_total(), 1);
        assert_eq!(gate.take_shed(), 1);
        assert_eq!(gate.take_shed(), 0);
        assert_eq!(gate.in_flight(1), 1);
        // A waiter gets the permit as soon as it is released within its (here long) wait.
        let patient = Arc::new(Admission::new(1, Duration::from_secs(60)));
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
        let gate = Admission::new(1, Duration::ZERO);
        let _held = gate.admit().await.expect("room for one");
        assert!(gate.admit().await.is_none());
        let off = Admission::new(0, Duration::ZERO);
        let held: Vec<_> = admit_all(&off, 100).await;
        assert_eq!(held.len(), 100);
        assert_eq!(off.shed_total(), 0);
    }

    async fn admit_all(gate: &Admission, n: usize) -> Vec<Admitted> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend(gate.admit().await);
        }
        v
    }
}
