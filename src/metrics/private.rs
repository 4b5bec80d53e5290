//! Private tracking's gauges: how many users, torrents and live sessions the
//! tracker holds, and whether the accounting reaches the database (pending
//! batches rising and the last commit getting old is the alert to set).

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::private::service::PrivateState;

/// Empty until the server starts private tracking; nothing is written then.
#[derive(Debug, Default, Clone)]
pub struct PrivateSlot(pub Arc<OnceLock<Arc<PrivateState>>>);

impl std::fmt::Debug for PrivateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateState")
    }
}

#[derive(Debug)]
pub struct PrivateCollector(pub PrivateSlot);

fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

impl Collector for PrivateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(state) = self.0.0.get() else {
            return Ok(());
        };
        let (users, torrents) = state.registry.counts();
        let f = &state.status;
        for (name, help, value) in [
            (
                "chihaya_private_users",
                "Registered users held",
                users as i64,
            ),
            (
                "chihaya_private_torrents",
                "Registered torrents held",
                torrents as i64,
            ),
            (
                "chihaya_private_sessions",
                "Live client sessions (user, torrent, peer_id)",
                state.sessions.len() as i64,
            ),
            (
                "chihaya_private_batches_pending",
                "Accounting batches journaled but not yet committed to the database",
                f.pending_batches.load(Ordering::Relaxed) as i64,
            ),
            (
                "chihaya_private_last_commit_timestamp_seconds",
                "Unix time of the last batch committed to the database (0: none since start)",
                f.last_commit_unix.load(Ordering::Relaxed),
            ),
        ] {
            super::encode_gauge(&mut encoder, name, help, value)?;
        }
        for (name, help, value) in [
            (
                "chihaya_private_batches_committed",
                "Accounting batches committed to the database",
                &f.committed_batches,
            ),
            (
                "chihaya_private_flush_failures",
                "Attempts to write a batch that the database refused or did not answer",
                &f.failed_attempts,
            ),
            (
                "chihaya_private_journal_errors",
                "Batches that could not be written to the journal",
                &f.journal_errors,
            ),
        ] {
            encode_counter(&mut encoder, name, help, value.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}
