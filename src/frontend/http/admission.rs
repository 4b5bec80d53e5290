//! The cap on open HTTP connections (`http.max_connections`).
//!
//! Every open connection holds a file descriptor, a task and its buffers.
//! Without a cap, a flood of idle or slow connections (slowloris) grows them
//! until the process runs out of descriptors, and then nobody is served. With
//! it, a connection beyond the cap is accepted and closed at once (with a
//! reset, so it leaves no TIME_WAIT behind) rather than left queued in the
//! kernel's backlog: the client learns immediately, and the descriptors of
//! the connections being served stay available.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shared by every listener of one frontend, so HTTP and HTTPS together stay
/// under the cap.
#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max: u32,
    refused: Arc<AtomicU64>,
}

/// Held by a connection's task for as long as the connection is open.
pub type Slot = OwnedSemaphorePermit;

impl Admission {
    pub fn new(max_connections: u32) -> Self {
        Admission {
            slots: Arc::new(Semaphore::new(max_connections as usize)),
            max: max_connections,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A slot for a new connection, or `None` (after closing `stream`) when
    /// the cap is reached.
    pub fn admit(&self, stream: &TcpStream) -> Option<Slot> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        // A reset rather than a FIN: nothing is owed to this client, and no
        // TIME_WAIT entry should outlive it. The caller drops the stream.
        let _ = stream.set_zero_linger();
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        // Logged at 1, 2, 4, 8, ... refusals: visible, but a flood cannot
        // turn into a flood of log lines.
        if refused.is_power_of_two() {
            tracing::warn!(
                max_connections = self.max,
                refused,
                "http: connection limit reached, refusing new connections"
            );
        }
        None
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    #[tokio::test]
    async fn admits_up_to_the_cap_and_again_once_a_slot_frees() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admission = Admission::new(2);
        let (_c1, s1) = pair(&listener).await;
        let (_c2, s2) = pair(&listener).await;
        let (_c3, s3) = pair(&listener).await;
        let first = admission.admit(&s1).expect("first fits");
        let _second = admission.admit(&s2).expect("second fits");
        assert!(admission.admit(&s3).is_none(), "third is over the cap");
        assert_eq!(admission.refused(), 1);
        drop(first);
        assert!(
            admission.admit(&s3).is_some(),
            "a closed connection frees its slot"
        );
    }
}
