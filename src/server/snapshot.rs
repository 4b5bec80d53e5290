//! The storage snapshot around the tracker's life: loaded before the
//! frontends start, saved after they stopped, so no announce is lost between
//! the two and none is served from a half-loaded store.

use std::sync::Arc;

use tracing::warn;

use crate::storage::Storage;

/// Loads the snapshot, if the storage keeps one, on a blocking thread.
pub async fn restore(storage: &Arc<Storage>) {
    let storage = storage.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || storage.restore_snapshot()).await {
        warn!("loading the snapshot failed: {e}; starting empty");
    }
}

/// Saves the snapshot, if the storage keeps one, on a blocking thread.
pub async fn save(storage: &Arc<Storage>) {
    let storage = storage.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || storage.save_snapshot()).await {
        warn!("saving the snapshot failed: {e}");
    }
}
