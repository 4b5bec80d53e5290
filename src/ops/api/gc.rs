//! `POST /api/gc`: one garbage collection now, through the same
//! [`Collector`] as the periodic task, so the two never overlap.

use std::time::Instant;

use hyper::StatusCode;
use serde::Serialize;

use super::reply::{ApiError, ApiResult, json};
use crate::server::gc::Collector;

#[derive(Serialize)]
struct Swept {
    peers_removed: u64,
    swarms_removed: u64,
    took_ms: u64,
}

pub async fn sweep(collector: &Collector) -> ApiResult {
    let started = Instant::now();
    match collector.sweep_now().await {
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "a garbage collection is running already; try again when it ends",
        )),
        Some(Err(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
        Some(Ok(removed)) => Ok(json(
            StatusCode::OK,
            &Swept {
                peers_removed: removed.peers_removed,
                swarms_removed: removed.swarms_removed,
                took_ms: started.elapsed().as_millis() as u64,
            },
        )),
    }
}
