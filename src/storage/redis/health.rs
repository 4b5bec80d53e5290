//! Says once that Redis went away, and once that it came back.
//!
//! During an outage every request fails; logging each failure would bury the
//! log (and slow the tracker) exactly when an operator needs to read it. The
//! frontends do not log storage failures; this is the one place that does.
//!
//! Requests overlap, so "the last request succeeded" is not "Redis is back":
//! a request sent just before Redis died may complete just after another one
//! saw it fail. Every request therefore takes a ticket when it starts, and only
//! a success that *started* after the failure that opened the outage was
//! *seen* ends it, and, the other way round, only a failure that started
//! after the recovery was seen opens a new one (a request sent while Redis
//! was still down may fail after it came back). Measured from when the news
//! arrived, not from when the failing request started: the stats sampler
//! fans out 256 requests at once, and when Redis dies among them one with a
//! lower ticket can fail while one with a higher ticket, sent as early,
//! still gets its answer (tests/binary_redis.rs logged a false recovery
//! about one run in eight that way).

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{error, info};

/// No outage: the value of `down_since` while Redis answers.
const UP: u64 = u64::MAX;

/// Outage state shared by every request of one store.
pub struct Health {
    /// Tickets handed to requests, in start order.
    next_ticket: AtomicU64,
    /// The first ticket not yet handed out when the failure that opened the
    /// current outage was seen, or [`UP`].
    down_since: AtomicU64,
    /// The first ticket not yet handed out when the last outage was seen to end.
    up_since: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            next_ticket: AtomicU64::new(0),
            down_since: AtomicU64::new(UP),
            up_since: AtomicU64::new(0),
        }
    }
}

/// A request's place in start order.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl Health {
    /// Called as a request starts.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.next_ticket.fetch_add(1, Ordering::SeqCst))
    }

    /// Every request started so far holds a ticket below this.
    fn now(&self) -> u64 {
        self.next_ticket.load(Ordering::SeqCst)
    }

    /// A request succeeded: if it started after the outage was seen, Redis is back.
    pub fn ok(&self, ticket: Ticket, broker: &str) {
        let since = self.down_since.load(Ordering::SeqCst);
        if since == UP || ticket.0 < since {
            return;
        }
        // Raised before the outage ends, so no failure of a request started
        // before this success was seen can open a new one in between.
        self.up_since.fetch_max(self.now(), Ordering::SeqCst);
        if self
            .down_since
            .compare_exchange(since, UP, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            info!(broker, "redis storage reachable again");
        }
    }

    /// A request failed: the first failure of an outage is logged.
    pub fn failed(&self, ticket: Ticket, broker: &str, error: &str) {
        if ticket.0 < self.up_since.load(Ordering::SeqCst) {
            // Started before Redis was seen back: old news.
            return;
        }
        if self
            .down_since
            .compare_exchange(UP, self.now(), Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            error!(
                broker,
                error, "redis storage unavailable; requests fail until it is back"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(h: &Health) -> bool {
        h.down_since.load(Ordering::Relaxed) != UP
    }

    #[test]
    fn a_request_older_than_the_outage_does_not_end_it() {
        let h = Health::default();
        let early = h.ticket();
        let failing = h.ticket();
        h.failed(failing, "b", "broken pipe");
        assert!(down(&h));
        h.ok(early, "b");
        assert!(down(&h), "a request sent before the failure proves nothing");
        let later = h.ticket();
        h.ok(later, "b");
        assert!(!down(&h));
    }

    #[test]
    fn a_request_older_than_the_recovery_does_not_reopen_the_outage() {
        let h = Health::default();
        let failing = h.ticket();
        h.failed(failing, "b", "refused");
        let stuck = h.ticket(); // sent while Redis was down, fails late
        let back = h.ticket();
        h.ok(back, "b");
        assert!(!down(&h));
        h.failed(stuck, "b", "timed out");
        assert!(
            !down(&h),
            "a request sent before the recovery proves nothing"
        );
        let later = h.ticket();
        h.failed(later, "b", "refused");
        assert!(down(&h), "a new failure opens a new outage");
    }

    #[test]
    fn further_failures_keep_the_outage_where_it_was_first_seen() {
        let h = Health::default();
        let (a, b) = (h.ticket(), h.ticket());
        h.failed(b, "x", "refused");
        let c = h.ticket();
        h.failed(c, "x", "refused");
        h.failed(a, "x", "refused");
        assert_eq!(h.down_since.load(Ordering::Relaxed), 2);
    }

    /// A fan-out in flight when Redis dies: every request took its ticket
    /// before the first failure came back, so none of their successes says
    /// Redis is back, whatever their ticket numbers.
    #[test]
    fn a_request_in_flight_when_the_outage_was_seen_does_not_end_it() {
        let h = Health::default();
        let fan_out: Vec<Ticket> = (0..8).map(|_| h.ticket()).collect();
        h.failed(fan_out[2], "b", "broken pipe");
        h.ok(fan_out[6], "b");
        assert!(down(&h), "answered before the death, with a higher ticket");
        let after = h.ticket();
        h.ok(after, "b");
        assert!(!down(&h));
    }
}
