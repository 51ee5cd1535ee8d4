//! RSA signatures off the async workers, at most one per CPU at once.
//!
//! An RSA signature takes the better part of a millisecond, so it runs on a blocking thread:
//! the requests queued behind it on its worker do not wait for it. But every blocking thread
//! is one more runnable thread for the kernel to share the CPUs with: a hundred signatures at
//! once would give the workers, which parse, authenticate, answer and shed every other request,
//! a hundredth of a CPU each. So signatures take one of as many slots as there are CPUs and wait
//! for one in arrival order; waiting costs nothing while they do.
//!
//! Key generation (CreateKey, GetParametersForImport) runs on blocking threads without a slot:
//! it is rare and a 4096-bit key would hold a slot for a second.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::KmsError;

fn slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new(cpus))
    })
}

/// Runs `work` on a blocking thread once a slot is free; `failed` is the internal error's text
/// if the thread panics.
pub(crate) async fn run<T: Send + 'static>(
    failed: &'static str,
    work: impl FnOnce() -> Result<T, KmsError> + Send + 'static,
) -> Result<T, KmsError> {
    let slot = Arc::clone(slots())
        .acquire_owned()
        .await
        .map_err(|_| KmsError::Internal(failed))?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    .map_err(|_| KmsError::Internal(failed))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn no_more_jobs_run_at_once_than_there_are_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..cpus * 4)
            .map(|i| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(run("job failed", move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(i)
                }))
            })
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.await.unwrap().unwrap(), i);
        }
        assert!(most.load(Ordering::SeqCst) <= cpus);
        assert!(
            run::<()>("job failed", || panic!("boom")).await.is_err(),
            "a panicking job is an internal error"
        );
    }
}
