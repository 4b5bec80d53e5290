//! One ops request in, one reply out.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::Ops;
use super::history::{HISTORY_POINTS, Point, RESOLUTION_SECS};
use super::stats;

/// The stats page, built into the binary: no CDN, no build step.
const PAGE: &str = include_str!("page.html");

/// `/readyz` fails when storage takes longer than this for its cheapest call.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

pub async fn respond<B>(ops: &Ops, request: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The API takes other methods and has its own errors; without a token
    // configured it does not exist.
    if request.uri().path().starts_with("/api/") {
        return match &ops.admin {
            Some(admin) => admin.respond(request).await,
            None => not_found(),
        };
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match request.uri().path() {
        "/" => reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/metrics" => reply(
            StatusCode::OK,
            crate::metrics::CONTENT_TYPE,
            ops.metrics.render(),
        ),
        "/stats" => stats_json(ops).await,
        "/stats/history" => history_json(ops),
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
        "/readyz" => ready(ops).await,
        _ => not_found(),
    }
}

fn not_found() -> Response<Full<Bytes>> {
    reply(StatusCode::NOT_FOUND, TEXT, "404 page not found\n")
}

async fn stats_json(ops: &Ops) -> Response<Full<Bytes>> {
    match stats::collect(ops).await {
        Ok(stats) => json(&stats),
        Err(e) => {
            tracing::warn!("/stats: {e}");
            reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{e}\n"))
        }
    }
}

#[derive(Serialize)]
struct HistoryReply<'a> {
    resolution_seconds: f64,
    capacity: usize,
    points: Vec<&'a Point>,
}

fn history_json(ops: &Ops) -> Response<Full<Bytes>> {
    let history = ops.history.lock();
    json(&HistoryReply {
        resolution_seconds: RESOLUTION_SECS,
        capacity: HISTORY_POINTS,
        points: history.points().collect(),
    })
}

/// Ready when storage answers its cheapest call in time.
async fn ready(ops: &Ops) -> Response<Full<Bytes>> {
    match tokio::time::timeout(READY_TIMEOUT, ops.storage.stats()).await {
        Ok(Ok(_)) => reply(StatusCode::OK, TEXT, "ready\n"),
        Ok(Err(e)) => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{e}\n")),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            format!("storage did not answer within {READY_TIMEOUT:?}\n"),
        ),
    }
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => reply(StatusCode::OK, JSON, body),
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{e}\n")),
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Everything here is live; a cached copy would be wrong.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
