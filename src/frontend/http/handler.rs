//! One HTTP request in, one reply out: routing, the client's address, the
//! codec and the tracker, with every failure turned into a bencoded
//! `failure reason` (clients ignore the bodies of non-200 replies).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Response, StatusCode, Uri};

use super::router::{Endpoint, Router};
use crate::config::{HttpConfig, SwarmConfig};
use crate::metrics::{self, Action, Answered, Family, Frontend, reasons};
use crate::middleware::{Tracker, TrackerError};
use crate::protocol::http::{
    AnnounceOptions, client_ip, parse_announce, parse_scrape, write_announce, write_failure,
    write_scrape,
};
use crate::protocol::query::Query;

/// Everything a request needs, shared by all connections of one frontend.
pub struct Handler {
    router: Router,
    options: AnnounceOptions,
    max_scrape_infohashes: u32,
    /// The proxy header to trust for the client address, and its name as configured.
    real_ip_header: Option<(HeaderName, String)>,
    /// Bounds producing a reply (the tracker's work), the first half of `write_timeout`.
    produce_timeout: Duration,
    request_timing: bool,
    tracker: Arc<Tracker>,
}

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");

impl Handler {
    pub fn new(
        config: &HttpConfig,
        swarm: SwarmConfig,
        tracker: Arc<Tracker>,
    ) -> anyhow::Result<Self> {
        let real_ip_header = real_ip_header(config)?;
        Ok(Handler {
            router: Router::new(&config.announce_routes, &config.scrape_routes),
            options: AnnounceOptions::from(config).with_swarm(swarm),
            max_scrape_infohashes: config.max_scrape_infohashes,
            real_ip_header,
            produce_timeout: config.write_timeout,
            request_timing: config.enable_request_timing,
            tracker,
        })
    }

    /// Answers one request; `peer` is the address the connection came from.
    pub async fn respond(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let Some((endpoint, route)) = self.router.route(uri.path()) else {
            return reply(StatusCode::NOT_FOUND, b"404 page not found\n".to_vec());
        };
        // Announce replies size it exactly themselves (see `write_announce`).
        let mut body = Vec::new();
        let answered = tokio::time::timeout(
            self.produce_timeout,
            self.answer(endpoint, route, uri, headers, peer, &mut body),
        )
        .await;
        let failure = match answered {
            Ok(outcome) => outcome.err(),
            Err(_) => Some(TrackerError::Internal(format!(
                "no reply within the write timeout ({:?})",
                self.produce_timeout
            ))),
        };
        if let Some(error) = &failure {
            if let TrackerError::Internal(reason) = error {
                tracing::error!(error = %reason, path = uri.path(), "http request failed");
            }
            let (interval, min_interval) = self.tracker.intervals();
            body.clear();
            write_failure(&mut body, error.client_message(), interval, min_interval);
        }
        self.record(endpoint, headers, peer, failure.as_ref(), started);
        if self.request_timing {
            tracing::debug!(
                endpoint = ?endpoint,
                failure = failure.as_ref().map_or("", TrackerError::client_message),
                micros = started.elapsed().as_micros() as u64,
                "http request timing"
            );
        }
        reply(StatusCode::OK, body)
    }

    async fn answer(
        &self,
        endpoint: Endpoint,
        route: Vec<(String, String)>,
        uri: &Uri,
        headers: &HeaderMap,
        peer: IpAddr,
        body: &mut Vec<u8>,
    ) -> Result<(), TrackerError> {
        let raw_query = uri.query().unwrap_or_default().as_bytes();
        let query = Query::parse(raw_query)?;
        let ip = self.client_ip(headers, peer)?;
        match endpoint {
            Endpoint::Announce => {
                let (request, format) =
                    parse_announce(&query, raw_query, route, ip, &self.options)?;
                let response = self.tracker.announce(&request).await?;
                write_announce(body, &response, format);
            }
            Endpoint::Scrape => {
                let request =
                    parse_scrape(&query, raw_query, route, ip, self.max_scrape_infohashes)?;
                let response = self.tracker.scrape(&request).await?;
                write_scrape(body, &response);
            }
        }
        Ok(())
    }

    /// One call into the metrics; the family is the client's (the proxy
    /// header's when one is configured), as Go chihaya labels it.
    fn record(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        peer: IpAddr,
        failure: Option<&TrackerError>,
        started: Instant,
    ) {
        let metrics = metrics::global();
        metrics.record(Answered {
            frontend: Frontend::Http,
            action: match endpoint {
                Endpoint::Announce => Action::Announce,
                Endpoint::Scrape => Action::Scrape,
            },
            family: self
                .client_ip(headers, peer)
                .map_or(Family::Unknown, Family::of),
            reason: failure.map_or(reasons::NONE, |e| metrics.reason(e)),
            micros: started.elapsed().as_micros() as u64,
        });
    }

    /// When a header carries the client address, its last instance holds the
    /// right-most (the operator's proxy's) entry; see [`client_ip`].
    fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> Result<IpAddr, TrackerError> {
        let Some((name, text)) = &self.real_ip_header else {
            return Ok(client_ip(peer, "", None)?);
        };
        let value = headers
            .get_all(name)
            .iter()
            .next_back()
            .map(HeaderValue::as_bytes);
        Ok(client_ip(peer, text, value)?)
    }
}

/// The configured proxy header, checked once at bind time so a typo fails
/// startup rather than every request.
pub fn real_ip_header(config: &HttpConfig) -> anyhow::Result<Option<(HeaderName, String)>> {
    match config.real_ip_header.as_str() {
        "" => Ok(None),
        name => {
            let header = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("http.real_ip_header: {name:?} is not a header name"))?;
            Ok(Some((header, name.to_string())))
        }
    }
}

/// Announces and scrapes are GETs (HEAD answers the same without a body);
/// anything else is not a tracker request.
pub fn method_allowed(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// A short 405 that says what is allowed; the request body is never read.
pub fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = reply(
        StatusCode::METHOD_NOT_ALLOWED,
        b"405 method not allowed\n".to_vec(),
    );
    let allow = HeaderValue::from_static("GET, HEAD");
    response.headers_mut().insert(ALLOW, allow);
    response
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    response
}
