//! The admin API, under `/api/` on the ops server, behind a bearer token
//! (`chihaya.admin_token` / `admin_token_file`; neither: every `/api/` path
//! is a 404). JSON in and out; errors are `{"error": "..."}`. docs/api.md
//! has every endpoint with a curl example.
//!
//! - `GET|POST /api/approval/torrents`, `GET|POST /api/approval/clients`
//!   ([`approval`]): the approval lists, and runtime changes to them;
//! - `GET /api/swarms/<info hash>` ([`swarms`]): one swarm's counts and peers;
//! - `POST /api/gc` ([`gc`]): a garbage collection now;
//! - `/api/private`, `/api/users/<id>`, `/api/torrents/<id>` ([`private`]):
//!   private tracking's users, torrents and switches.

mod approval;
mod auth;
mod gc;
mod private;
mod reply;
mod swarms;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};

use crate::middleware::Tracker;
use crate::middleware::approvals::ListKind;
use crate::private::service::PrivateState;
use crate::server::gc::Collector;
use approval::Kind;
use reply::{ApiError, ApiResult};

/// What the API needs: the token, and the parts of the tracker it acts on.
pub struct Admin {
    token: auth::Token,
    tracker: Arc<Tracker>,
    collector: Arc<Collector>,
    private: Option<Arc<PrivateState>>,
}

impl Admin {
    pub fn new(token: &str, tracker: Arc<Tracker>, collector: Arc<Collector>) -> Admin {
        Admin {
            token: auth::Token::new(token),
            tracker,
            collector,
            private: None,
        }
    }

    /// Serves the private tracking endpoints too.
    pub fn with_private(self, private: Option<Arc<PrivateState>>) -> Admin {
        Admin { private, ..self }
    }

    /// Answers one `/api/...` request. The token is checked first, so
    /// nobody without it learns even which paths exist.
    pub async fn respond<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !self.token.admits(request.headers()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send \"Authorization: Bearer <admin_token>\"",
            )
            .into_response();
        }
        self.route(request)
            .await
            .unwrap_or_else(ApiError::into_response)
    }

    async fn route<B>(&self, request: Request<B>) -> ApiResult
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let (method, path) = (&parts.method, parts.uri.path());
        if path.starts_with("/api/private")
            || path.starts_with("/api/users/")
            || path.starts_with("/api/torrents/")
        {
            return private::route(self.private.as_deref(), method, path, body)
                .await
                .unwrap_or_else(|| {
                    Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        format!("no such endpoint: {path}"),
                    ))
                });
        }
        let chain = self.tracker.chain();
        let approvals = self.tracker.approvals();
        match path {
            "/api/approval/torrents" => {
                let kind = Kind {
                    kind: ListKind::Torrents,
                    overlay: &approvals.torrents,
                    parse: Kind::<crate::protocol::InfoHash>::PARSE,
                };
                match *method {
                    Method::GET => kind.show(&chain),
                    Method::POST => kind.change(&chain, reply::read_json(body).await?),
                    _ => Err(ApiError::method(method, "GET, POST")),
                }
            }
            "/api/approval/clients" => {
                let kind = Kind {
                    kind: ListKind::Clients,
                    overlay: &approvals.clients,
                    parse: Kind::<crate::middleware::client_approval::ClientId>::PARSE,
                };
                match *method {
                    Method::GET => kind.show(&chain),
                    Method::POST => kind.change(&chain, reply::read_json(body).await?),
                    _ => Err(ApiError::method(method, "GET, POST")),
                }
            }
            "/api/gc" => match *method {
                Method::POST => gc::sweep(&self.collector).await,
                _ => Err(ApiError::method(method, "POST")),
            },
            _ => match path.strip_prefix("/api/swarms/") {
                Some(hex) if *method == Method::GET => {
                    swarms::show(self.tracker.storage(), hex, parts.uri.query()).await
                }
                Some(_) => Err(ApiError::method(method, "GET")),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no such endpoint: {path}"),
                )),
            },
        }
    }
}
