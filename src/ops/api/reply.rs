//! What every admin API answer looks like: JSON, errors as `{"error": "..."}`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Request bodies are small lists; anything larger is refused (413) before
/// it is held in memory.
pub const MAX_BODY: usize = 64 * 1024;

/// A request the API refuses, with the status and the reason it gives.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// For a 405: the methods the path takes.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn method(method: &Method, allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed here; use {allow}"),
            )
        }
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let mut response = json(
            self.status,
            &Body {
                error: &self.message,
            },
        );
        let headers = response.headers_mut();
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult = Result<Response<Full<Bytes>>, ApiError>;

/// `value` as a JSON answer with `status`.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("API replies serialize");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The body as `T`: 413 past [`MAX_BODY`], 400 naming what is wrong with it.
pub async fn read_json<T, B>(body: B) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
            ));
        }
        Err(e) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Ask {
        add: Vec<String>,
    }

    async fn read(body: &'static [u8]) -> Result<Ask, ApiError> {
        read_json(Full::new(Bytes::from_static(body))).await
    }

    async fn body_of(response: Response<Full<Bytes>>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn bad_json_is_a_400_naming_the_problem() {
        let err = read(b"{\"ad\": []}").await.unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message.contains("unknown field `ad`"),
            "{}",
            err.message
        );
        let err = read(b"{\"add\": [1]}").await.unwrap_err();
        assert!(
            err.message.starts_with("body: invalid type"),
            "{}",
            err.message
        );
        assert!(read(b"not json").await.is_err());
        assert_eq!(read(b"{\"add\": [\"x\"]}").await.unwrap().add, ["x"]);
    }

    #[tokio::test]
    async fn an_oversized_body_is_a_413() {
        let big = Full::new(Bytes::from(vec![b' '; MAX_BODY + 1]));
        let err = read_json::<Ask, _>(big).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn errors_are_json_with_their_headers() {
        let response = ApiError::method(&Method::DELETE, "GET, POST").into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, POST");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"error": "method DELETE is not allowed here; use GET, POST"})
        );
        let response = ApiError::new(StatusCode::UNAUTHORIZED, "no").into_response();
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}
