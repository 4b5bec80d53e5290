//! Running posthooks after the reply, without ever delaying it.
//!
//! Each answered request's posthook work is spawned as its own task. The
//! number of such tasks alive at once is bounded: when posthooks fall behind
//! (a slow hook, a burst of traffic), new work is dropped and counted instead
//! of queueing without bound and eating the memory the swarms need.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

/// Posthook tasks alive at once before new ones are dropped.
pub const MAX_PENDING: usize = 1024;

pub struct Posthooks {
    slots: Arc<Semaphore>,
    dropped: AtomicU64,
}

impl Posthooks {
    pub fn new(max_pending: usize) -> Posthooks {
        Posthooks {
            slots: Arc::new(Semaphore::new(max_pending)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Runs `work` in its own task, or drops and counts it when
    /// `max_pending` tasks are already running. Must be called in a runtime.
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(async move {
                    work();
                    drop(slot);
                });
            }
            Err(_) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Logged at 1, 2, 4, 8... so a flood does not flood the log too.
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "posthooks are behind: dropping their work");
                }
            }
        }
    }

    /// How many requests' posthook work was dropped since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_bound_is_dropped_and_counted() {
        let posthooks = Posthooks::new(1);
        let (release, held) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<u32>();
        let first_done = done.clone();
        posthooks.spawn(move || {
            let _ = held.recv_timeout(Duration::from_secs(5));
            first_done.send(1).unwrap();
        });
        let second_done = done.clone();
        posthooks.spawn(move || second_done.send(2).unwrap());
        assert_eq!(posthooks.dropped(), 1, "the one slot is taken");
        release.send(()).unwrap();
        assert_eq!(finished.recv_timeout(Duration::from_secs(5)), Ok(1));
        // The slot is free again once the first task has ended.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while posthooks.slots.available_permits() == 0 {
            assert!(std::time::Instant::now() < deadline, "slot never freed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        posthooks.spawn(move || done.send(3).unwrap());
        assert_eq!(finished.recv_timeout(Duration::from_secs(5)), Ok(3));
        assert_eq!(posthooks.dropped(), 1);
    }
}
