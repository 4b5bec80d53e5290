//! The site's side of private tracking: users and torrents pushed to the
//! tracker as they change, the global freeleech switch, and the state of the
//! accounting pipeline.
//!
//! - `GET /api/private`: counts, the freeleech switch, the flusher's state;
//! - `PUT /api/private/freeleech` `{"global": true}`;
//! - `POST /api/private/reload`: users and torrents re-read from the database now;
//! - `GET|PUT|DELETE /api/users/<id>`, `PUT /api/users/<id>/passkey`;
//! - `GET|PUT|DELETE /api/torrents/<id>`.
//!
//! A change is written to the database first and put in force second: if the
//! database refuses it (503 while it is down, 409 when a passkey or info hash
//! belongs to another entry) nothing changes, so the periodic reload can
//! never undo what the API reported done.

use std::sync::atomic::Ordering;

use hyper::body::Body;
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::reply::{ApiError, ApiResult, json, read_json};
use crate::private::db::DbError;
use crate::private::model::{Freeleech, Passkey, Torrent, TorrentId, User, UserId, parse_hex_hash};
use crate::private::service::PrivateState;

/// The largest multiplier the API takes: anything larger is a typo.
const MAX_MULTIPLIER: f64 = 100.0;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    passkey: Passkey,
    #[serde(default = "yes")]
    can_leech: bool,
    #[serde(default = "one")]
    upload_multiplier: f64,
    #[serde(default = "one")]
    download_multiplier: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasskeyBody {
    passkey: Passkey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TorrentBody {
    info_hash: String,
    #[serde(default)]
    info_hash_v2: Option<String>,
    #[serde(default)]
    freeleech: Freeleech,
    #[serde(default = "one")]
    upload_multiplier: f64,
    #[serde(default = "one")]
    download_multiplier: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreeleechBody {
    global: bool,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

#[derive(Serialize)]
struct Status {
    users: usize,
    torrents: usize,
    sessions: usize,
    global_freeleech: bool,
    flush: Flush,
}

#[derive(Serialize)]
struct Flush {
    pending_batches: u64,
    committed_batches: u64,
    failed_attempts: u64,
    journal_errors: u64,
    /// Unix seconds; 0: nothing committed since start.
    last_commit: i64,
}

/// Routes `/api/private...`, `/api/users/...` and `/api/torrents/...`;
/// `None` for any other path.
pub async fn route<B>(
    state: Option<&PrivateState>,
    method: &Method,
    path: &str,
    body: B,
) -> Option<ApiResult>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ours = path == "/api/private"
        || path.starts_with("/api/private/")
        || path.starts_with("/api/users/")
        || path.starts_with("/api/torrents/");
    if !ours {
        return None;
    }
    let Some(state) = state else {
        return Some(Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "private tracking is not configured (no `private:` section)",
        )));
    };
    Some(dispatch(state, method, path, body).await)
}

async fn dispatch<B>(state: &PrivateState, method: &Method, path: &str, body: B) -> ApiResult
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match path {
        "/api/private" => match *method {
            Method::GET => Ok(json(StatusCode::OK, &status(state))),
            _ => Err(ApiError::method(method, "GET")),
        },
        "/api/private/freeleech" => match *method {
            Method::PUT => {
                let FreeleechBody { global } = read_json(body).await?;
                state.hook.set_global_freeleech(global);
                tracing::info!(global, "global freeleech set through the admin API");
                Ok(json(StatusCode::OK, &status(state)))
            }
            _ => Err(ApiError::method(method, "PUT")),
        },
        "/api/private/reload" => match *method {
            Method::POST => {
                state.reload().await.map_err(db_error)?;
                Ok(json(StatusCode::OK, &status(state)))
            }
            _ => Err(ApiError::method(method, "POST")),
        },
        _ => {
            if let Some(rest) = path.strip_prefix("/api/users/") {
                match rest.split_once('/') {
                    Some((id, "passkey")) => passkey(state, method, id_of(id)?, body).await,
                    Some(_) => Err(no_such(path)),
                    None => user(state, method, UserId(id_of(rest)?), body).await,
                }
            } else if let Some(rest) = path.strip_prefix("/api/torrents/") {
                torrent(state, method, TorrentId(id_of(rest)?), body).await
            } else {
                Err(no_such(path))
            }
        }
    }
}

fn status(state: &PrivateState) -> Status {
    let (users, torrents) = state.registry.counts();
    let f = &state.status;
    Status {
        users,
        torrents,
        sessions: state.sessions.len(),
        global_freeleech: state.hook.global_freeleech(),
        flush: Flush {
            pending_batches: f.pending_batches.load(Ordering::Relaxed),
            committed_batches: f.committed_batches.load(Ordering::Relaxed),
            failed_attempts: f.failed_attempts.load(Ordering::Relaxed),
            journal_errors: f.journal_errors.load(Ordering::Relaxed),
            last_commit: f.last_commit_unix.load(Ordering::Relaxed),
        },
    }
}

fn no_such(path: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
}

fn id_of(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request(format!("{text:?} is not an id (a positive integer)")))
}

fn multiplier(name: &str, value: f64) -> Result<f64, ApiError> {
    if value.is_finite() && (0.0..=MAX_MULTIPLIER).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "{name}: must be a number from 0 to {MAX_MULTIPLIER}"
        )))
    }
}

fn db_error(e: DbError) -> ApiError {
    match e {
        DbError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, why),
        DbError::Unavailable(why) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database is unavailable; nothing was changed: {why}"),
        ),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn not_found(what: &str, id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no {what} {id}"))
}

/// A DELETE's answer: 404 when neither the database nor the tracker had it.
fn deleted(what: &str, id: i64, existed: bool) -> ApiResult {
    if existed {
        Ok(json(StatusCode::OK, &serde_json::json!({"deleted": id})))
    } else {
        Err(not_found(what, id))
    }
}

async fn user<B>(state: &PrivateState, method: &Method, id: UserId, body: B) -> ApiResult
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match *method {
        Method::GET => state
            .registry
            .user(id)
            .map(|u| json(StatusCode::OK, &u))
            .ok_or_else(|| not_found("user", id.0)),
        Method::PUT => {
            let b: UserBody = read_json(body).await?;
            let user = User {
                id,
                passkey: b.passkey,
                can_leech: b.can_leech,
                upload_multiplier: multiplier("upload_multiplier", b.upload_multiplier)?,
                download_multiplier: multiplier("download_multiplier", b.download_multiplier)?,
            };
            put_user(state, user).await
        }
        Method::DELETE => {
            let existed = state.db.delete_user(id).await.map_err(db_error)?;
            let held = state.registry.remove_user(id).is_some();
            deleted("user", id.0, existed || held)
        }
        _ => Err(ApiError::method(method, "GET, PUT, DELETE")),
    }
}

async fn put_user(state: &PrivateState, user: User) -> ApiResult {
    state
        .registry
        .check_user(&user)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    state.db.upsert_user(&user).await.map_err(db_error)?;
    state.registry.put_user(user.clone());
    Ok(json(StatusCode::OK, &user))
}

async fn passkey<B>(state: &PrivateState, method: &Method, id: i64, body: B) -> ApiResult
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if *method != Method::PUT {
        return Err(ApiError::method(method, "PUT"));
    }
    let PasskeyBody { passkey } = read_json(body).await?;
    let mut user = state
        .registry
        .user(UserId(id))
        .ok_or_else(|| not_found("user", id))?;
    user.passkey = passkey;
    put_user(state, user).await
}

async fn torrent<B>(state: &PrivateState, method: &Method, id: TorrentId, body: B) -> ApiResult
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match *method {
        Method::GET => state
            .registry
            .torrent(id)
            .map(|t| json(StatusCode::OK, &t))
            .ok_or_else(|| not_found("torrent", id.0)),
        Method::PUT => {
            let b: TorrentBody = read_json(body).await?;
            let hash = |name: &str, text: &str| {
                parse_hex_hash(text).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
            };
            let torrent = Torrent {
                id,
                info_hash: hash("info_hash", &b.info_hash)?,
                info_hash_v2: b
                    .info_hash_v2
                    .as_deref()
                    .map(|h| hash("info_hash_v2", h))
                    .transpose()?,
                freeleech: b.freeleech,
                upload_multiplier: multiplier("upload_multiplier", b.upload_multiplier)?,
                download_multiplier: multiplier("download_multiplier", b.download_multiplier)?,
            };
            if torrent.info_hash_v2 == Some(torrent.info_hash) {
                return Err(ApiError::bad_request(
                    "info_hash_v2: must differ from info_hash",
                ));
            }
            state
                .registry
                .check_torrent(&torrent)
                .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
            state.db.upsert_torrent(&torrent).await.map_err(db_error)?;
            state.registry.put_torrent(torrent.clone());
            Ok(json(StatusCode::OK, &torrent))
        }
        Method::DELETE => {
            let existed = state.db.delete_torrent(id).await.map_err(db_error)?;
            let held = state.registry.remove_torrent(id).is_some();
            deleted("torrent", id.0, existed || held)
        }
        _ => Err(ApiError::method(method, "GET, PUT, DELETE")),
    }
}
