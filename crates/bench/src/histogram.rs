//! A small log-linear latency histogram in nanoseconds.
//!
//! Values below 128 ns get one bucket each; above, every power of two is split into 64 equal
//! buckets, so a reported quantile is within 1/64 (1.6 %) of the true value. Quantiles are
//! reported as the upper edge of their bucket (never optimistic). Memory is fixed (a few
//! thousand counters), recording is a couple of instructions, and histograms merge by addition.

use std::time::Duration;

/// Sub-buckets per power of two above the linear range.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this are counted exactly.
const LINEAR: u64 = 2 * SUB;
/// Largest power-of-two exponent tracked (2^44 ns ≈ 4.9 hours); larger values are clamped.
const MAX_EXP: u32 = 44;
const BUCKETS: usize = (LINEAR + (MAX_EXP - SUB_BITS) as u64 * SUB) as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }
}

fn index_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let exp = exp.min(MAX_EXP);
    let shift = exp - SUB_BITS; // >= 1
    let mantissa = (v >> shift).min(2 * SUB - 1); // in [SUB, 2 * SUB)
    (LINEAR + u64::from(shift - 1) * SUB + (mantissa - SUB)) as usize
}

/// The largest value that lands in bucket `i`.
fn upper_edge(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = (i - LINEAR) / SUB + 1;
    let mantissa = (i - LINEAR) % SUB + SUB;
    ((mantissa + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(index_of(ns)) {
            *c += 1;
        }
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(u64::try_from(self.sum_ns / u128::from(self.total)).unwrap_or(0))
    }

    /// The value at quantile `q` (0..=1): the upper edge of the bucket holding the
    /// `ceil(q * n)`-th smallest value, capped at the exact maximum.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(upper_edge(i).min(self.max_ns));
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut prev = 0;
        for v in (0..2_000_000u64).step_by(7).chain([u64::MAX / 2]) {
            let i = index_of(v);
            assert!(i >= prev, "index went down at {v}");
            assert!(i < BUCKETS);
            prev = i;
            let hi = upper_edge(i);
            if v < 1 << MAX_EXP {
                assert!(hi >= v, "{v} above its bucket edge {hi}");
                assert!((hi - v) as f64 <= v as f64 / 64.0 + 1.0, "{v} -> {hi}");
            }
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros() as i64;
        let p99 = h.quantile(0.99).as_micros() as i64;
        assert!((p50 - 500).abs() <= 8, "{p50}");
        assert!((p99 - 990).abs() <= 16, "{p99}");
        assert_eq!(h.quantile(1.0), Duration::from_micros(1000));
        assert_eq!(h.count(), 1000);
        let mut g = Histogram::default();
        g.record(Duration::from_millis(5));
        h.merge(&g);
        assert_eq!(h.max(), Duration::from_millis(5));
        assert_eq!(h.count(), 1001);
    }
}
