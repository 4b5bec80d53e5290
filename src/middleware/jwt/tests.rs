//! The hook against a JWK set served on loopback, with tokens signed here.

#[path = "../../../tests/support/jwt.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::protocol::{Event, Params, PeerId, PeerSelection, ScrapeRequest, ScrapeResponse};
use support::{AUDIENCE, EC1, ISSUER, JwksServer, RSA1, RSA2, good_claims, jwk_set, now};

const HASH: InfoHash = InfoHash([0xab; 20]);
const OTHER: InfoHash = InfoHash([0x01; 20]);

fn hex() -> String {
    HASH.to_hex()
}

fn options(url: &str, interval: Option<&str>) -> serde_yaml_ng::Value {
    let mut yaml = format!("issuer: {ISSUER}\naudience: {AUDIENCE}\njwk_set_url: {url}\n");
    if let Some(i) = interval {
        yaml.push_str(&format!("jwk_set_update_interval: {i}\n"));
    }
    serde_yaml_ng::from_str(&yaml).unwrap()
}

/// A server publishing RSA1 and EC1, and a hook reading it.
async fn setup() -> (JwksServer, Jwt) {
    let server = JwksServer::start(200, &jwk_set(&[&RSA1, &EC1]));
    let hook = Jwt::new(&options(&server.url(), None), CancellationToken::new())
        .await
        .unwrap();
    (server, hook)
}

fn announce(query: &str) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: PeerId([1; 20]),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 100,
        event: Event::Started,
        numwant: 50,
        key: None,
        params: Params {
            route: Vec::new(),
            query: query.as_bytes().to_vec(),
        },
        selection: PeerSelection::default(),
    }
}

/// What a client is told for an announce with this query string.
fn reply_to(hook: &Jwt, query: &str) -> Result<(), String> {
    hook.before_announce(&mut announce(query), &mut AnnounceResponse::default())
        .map_err(|e| e.0)
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn token_error(r: Result<(), Rejection>) -> ErrorKind {
    match r {
        Err(Rejection::Token(e)) => e.into_kind(),
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_are_accepted() {
    let (_server, hook) = setup().await;
    for key in [&RSA1, &EC1] {
        let token = key.sign(&good_claims(&hex()));
        assert_eq!(
            hook.verify(token.as_bytes(), &HASH).ok(),
            Some(()),
            "{}",
            key.kid
        );
        let query = format!("info_hash=x&jwt={token}&port=1");
        assert_eq!(reply_to(&hook, &query), Ok(()), "{}", key.kid);
    }
}

#[tokio::test]
async fn audience_may_be_a_list_containing_ours() {
    let (_server, hook) = setup().await;
    let claims = with(good_claims(&hex()), "aud", json!(["other", AUDIENCE]));
    assert!(hook.verify(RSA1.sign(&claims).as_bytes(), &HASH).is_ok());
}

#[tokio::test]
async fn missing_and_empty_jwt() {
    let (_server, hook) = setup().await;
    assert_eq!(reply_to(&hook, "port=1"), Err(MISSING_JWT.into()));
    assert_eq!(reply_to(&hook, ""), Err(MISSING_JWT.into()));
    // Present but empty is a bad token, as in Go chihaya.
    assert_eq!(reply_to(&hook, "jwt="), Err(INVALID_JWT.into()));
}

#[tokio::test]
async fn claims_that_do_not_match_are_refused_with_the_reason() {
    let (_server, hook) = setup().await;
    let good = good_claims(&hex());
    let cases = [
        (
            "wrong issuer",
            with(good.clone(), "iss", json!("https://evil.test")),
            ErrorKind::InvalidIssuer,
        ),
        (
            "no issuer",
            without(good.clone(), "iss"),
            ErrorKind::MissingRequiredClaim("iss".into()),
        ),
        (
            "wrong audience",
            with(good.clone(), "aud", json!("other")),
            ErrorKind::InvalidAudience,
        ),
        (
            "no audience",
            without(good.clone(), "aud"),
            ErrorKind::MissingRequiredClaim("aud".into()),
        ),
        (
            "expired",
            with(good.clone(), "exp", json!(now() - 3600)),
            ErrorKind::ExpiredSignature,
        ),
        (
            "expired past leeway",
            with(good.clone(), "exp", json!(now() - LEEWAY_SECS as i64 - 5)),
            ErrorKind::ExpiredSignature,
        ),
        (
            "no exp",
            without(good.clone(), "exp"),
            ErrorKind::MissingRequiredClaim("exp".into()),
        ),
        (
            "not yet valid",
            with(good.clone(), "nbf", json!(now() + 3600)),
            ErrorKind::ImmatureSignature,
        ),
    ];
    for (what, claims, kind) in cases {
        for key in [&RSA1, &EC1] {
            let token = key.sign(&claims);
            assert_eq!(
                token_error(hook.verify(token.as_bytes(), &HASH)),
                kind,
                "{what}"
            );
            assert_eq!(
                reply_to(&hook, &format!("jwt={token}")),
                Err(INVALID_JWT.into()),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_allowed() {
    let (_server, hook) = setup().await;
    let just_expired = with(good_claims(&hex()), "exp", json!(now() - 2));
    let nbf_soon = with(good_claims(&hex()), "nbf", json!(now() + 2));
    let nbf_past = with(good_claims(&hex()), "nbf", json!(now() - 60));
    for claims in [just_expired, nbf_soon, nbf_past] {
        assert!(
            hook.verify(RSA1.sign(&claims).as_bytes(), &HASH).is_ok(),
            "{claims}"
        );
    }
}

#[tokio::test]
async fn infohash_must_be_the_announced_one_in_lowercase_hex() {
    let (_server, hook) = setup().await;
    let cases = [
        ("other hash", good_claims(&OTHER.to_hex())),
        ("uppercase hex", good_claims(&hex().to_uppercase())),
        ("no infohash", without(good_claims(&hex()), "infohash")),
    ];
    for (what, claims) in cases {
        let token = RSA1.sign(&claims);
        let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
        assert!(
            matches!(why, Rejection::InfoHash { .. } | Rejection::Token(_)),
            "{what}: {why}"
        );
        assert_eq!(
            reply_to(&hook, &format!("jwt={token}")),
            Err(INVALID_JWT.into()),
            "{what}"
        );
    }
    // The same token is good for the hash it names, and only that one.
    let token = RSA1.sign(&good_claims(&OTHER.to_hex()));
    assert!(hook.verify(token.as_bytes(), &OTHER).is_ok());
}

#[tokio::test]
async fn unknown_or_missing_kid_is_refused() {
    let (_server, hook) = setup().await;
    let token = RSA2.sign(&good_claims(&hex()));
    let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
    assert!(
        matches!(why, Rejection::UnknownKid(ref k) if k == "rsa2"),
        "{why}"
    );
    let token = RSA1.sign_with(Header::new(Algorithm::RS256), &good_claims(&hex()));
    let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
    assert!(matches!(why, Rejection::NoKid), "{why}");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (_server, hook) = setup().await;
    let token = support::unsigned_token("rsa1", &good_claims(&hex()));
    let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
    assert!(matches!(why, Rejection::Header(_)), "{why}");
    assert_eq!(
        reply_to(&hook, &format!("jwt={token}")),
        Err(INVALID_JWT.into())
    );
}

/// The classic confusion attack: HMAC "signed" with the public key as secret,
/// under the RSA key's kid.
#[tokio::test]
async fn hs256_with_the_public_key_as_secret_is_refused() {
    let (_server, hook) = setup().await;
    let public = RSA1.jwk().to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa1".into());
    let secret = jsonwebtoken::EncodingKey::from_secret(public.as_bytes());
    let token = jsonwebtoken::encode(&header, &good_claims(&hex()), &secret).unwrap();
    let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
    assert!(
        matches!(
            why,
            Rejection::AlgMismatch {
                header: Algorithm::HS256,
                key: Algorithm::RS256
            }
        ),
        "{why}"
    );
}

#[tokio::test]
async fn alg_must_match_the_key_type() {
    let (_server, hook) = setup().await;
    // An ES256 signature presented under the RSA key's kid.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rsa1".into());
    let token = EC1.sign_with(header, &good_claims(&hex()));
    let why = hook.verify(token.as_bytes(), &HASH).unwrap_err();
    assert!(matches!(why, Rejection::AlgMismatch { .. }), "{why}");
    // RS384 is RSA too, but not an accepted algorithm.
    let mut header = Header::new(Algorithm::RS384);
    header.kid = Some("rsa1".into());
    let token = RSA1.sign_with(header, &good_claims(&hex()));
    assert!(matches!(
        hook.verify(token.as_bytes(), &HASH).unwrap_err(),
        Rejection::AlgMismatch { .. }
    ));
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let (_server, hook) = setup().await;
    for key in [&RSA1, &EC1] {
        let token = key.sign(&good_claims(&hex()));
        let parts: Vec<&str> = token.split('.').collect();
        // One signature character changed, in the middle (the last carries padding bits).
        let mut sig = parts[2].as_bytes().to_vec();
        let mid = sig.len() / 2;
        sig[mid] = if sig[mid] == b'A' { b'B' } else { b'A' };
        let bad_sig = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(sig).unwrap()
        );
        assert_eq!(
            token_error(hook.verify(bad_sig.as_bytes(), &HASH)),
            ErrorKind::InvalidSignature
        );
        // A payload granting another hash under the original signature.
        let payload = support::b64(good_claims(&OTHER.to_hex()).to_string().as_bytes());
        let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            token_error(hook.verify(swapped.as_bytes(), &OTHER)),
            ErrorKind::InvalidSignature
        );
        assert_eq!(
            reply_to(&hook, &format!("jwt={bad_sig}")),
            Err(INVALID_JWT.into())
        );
    }
}

#[tokio::test]
async fn scrapes_are_not_checked() {
    let (_server, hook) = setup().await;
    let mut req = ScrapeRequest {
        info_hashes: vec![HASH],
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        params: Params::default(),
    };
    assert!(
        hook.before_scrape(&mut req, &mut ScrapeResponse::default())
            .is_ok()
    );
    assert_eq!(hook.name(), "jwt");
}

async fn start_error(options: &serde_yaml_ng::Value) -> String {
    match Jwt::new(options, CancellationToken::new()).await {
        Ok(_) => panic!("started with {options:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn start_fails_when_the_set_cannot_be_had() {
    // A port that was free a moment ago: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let err = start_error(&options(&url, None)).await;
    assert!(
        err.starts_with("jwk_set_url: cannot fetch http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("connection refused"), "{err}");

    let server = JwksServer::start(500, "oops");
    let err = start_error(&options(&server.url(), None)).await;
    assert!(
        err.starts_with("jwk_set_url: cannot fetch") && err.contains("500"),
        "{err}"
    );

    server.set(200, "<html>not json</html>");
    let err = start_error(&options(&server.url(), None)).await;
    assert!(
        err.starts_with("jwk_set_url:") && err.contains("not a JWK set"),
        "{err}"
    );

    let only_unusable = json!({"keys": [
        {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
        without(RSA1.jwk(), "kid"),
        with(EC1.jwk(), "alg", json!("ES384")),
    ]});
    server.set(200, &only_unusable.to_string());
    let err = start_error(&options(&server.url(), None)).await;
    assert!(err.contains("no usable keys"), "{err}");
    assert!(
        err.contains("key 1: no kid") && err.contains("ES384"),
        "{err}"
    );
}

#[tokio::test]
async fn unusable_keys_beside_usable_ones_are_skipped() {
    let set = json!({"keys": [
        {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
        with(RSA2.jwk(), "use", json!("enc")),
        RSA1.jwk(),
    ]});
    let server = JwksServer::start(200, &set.to_string());
    let hook = Jwt::new(&options(&server.url(), None), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        hook.verify(RSA1.sign(&good_claims(&hex())).as_bytes(), &HASH)
            .is_ok()
    );
    let why = hook
        .verify(RSA2.sign(&good_claims(&hex())).as_bytes(), &HASH)
        .unwrap_err();
    assert!(matches!(why, Rejection::UnknownKid(_)), "{why}");
}

#[tokio::test]
async fn bad_options_name_the_key() {
    let server = JwksServer::start(200, &jwk_set(&[&RSA1]));
    let url = server.url();
    let cases = [
        (format!("audience: a\njwk_set_url: {url}"), "issuer"),
        (
            format!("issuer: i\naudience: a\njwk_set_url: {url}\nisuer: x"),
            "isuer",
        ),
        (
            format!("issuer: ''\naudience: a\njwk_set_url: {url}"),
            "issuer: must not be empty",
        ),
        (
            "issuer: i\naudience: a\njwk_set_url: 'not a url'".into(),
            "jwk_set_url: invalid URL",
        ),
        (
            "issuer: i\naudience: a\njwk_set_url: 'ftp://x/y'".into(),
            "must be http or https",
        ),
        (
            format!("issuer: i\naudience: a\njwk_set_url: {url}\njwk_set_update_interval: soon"),
            "invalid duration",
        ),
    ];
    for (yaml, expected) in cases {
        let err = start_error(&serde_yaml_ng::from_str(&yaml).unwrap()).await;
        assert!(err.contains(expected), "{yaml:?}: {err}");
    }
    let err = start_error(&serde_yaml_ng::Value::Null).await;
    assert!(err.contains("missing field `issuer`"), "{err}");
}

/// Polls `cond` every 20 ms for at most `limit`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test]
async fn rotated_keys_are_picked_up_after_the_interval() {
    let server = JwksServer::start(200, &jwk_set(&[&RSA1]));
    let hook = Jwt::new(
        &options(&server.url(), Some("200ms")),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let old = RSA1.sign(&good_claims(&hex()));
    let new = RSA2.sign(&good_claims(&hex()));
    assert!(hook.verify(old.as_bytes(), &HASH).is_ok());
    assert!(hook.verify(new.as_bytes(), &HASH).is_err());

    server.set(200, &jwk_set(&[&RSA2]));
    let rotated = eventually(Duration::from_secs(5), || {
        hook.verify(new.as_bytes(), &HASH).is_ok()
    })
    .await;
    assert!(
        rotated,
        "new key not accepted within 5s ({} fetches)",
        server.hits()
    );
    assert!(matches!(
        hook.verify(old.as_bytes(), &HASH).unwrap_err(),
        Rejection::UnknownKid(_)
    ));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_set() {
    let server = JwksServer::start(200, &jwk_set(&[&RSA1]));
    let hook = Jwt::new(
        &options(&server.url(), Some("100ms")),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let token = RSA1.sign(&good_claims(&hex()));
    for (status, body) in [(500, "down"), (200, "garbage")] {
        server.set(status, body);
        let before = server.hits();
        assert!(
            eventually(Duration::from_secs(5), || server.hits() >= before + 2).await,
            "no refresh attempts"
        );
        assert!(
            hook.verify(token.as_bytes(), &HASH).is_ok(),
            "after {status} {body}"
        );
    }
}

#[tokio::test]
async fn zero_or_missing_interval_does_not_spin() {
    for interval in [Some("0s"), None] {
        let server = JwksServer::start(200, &jwk_set(&[&RSA1]));
        let _hook = Jwt::new(&options(&server.url(), interval), CancellationToken::new())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(server.hits(), 1, "interval {interval:?}");
    }
}

#[tokio::test]
async fn refresh_stops_at_shutdown_and_when_dropped() {
    let server = JwksServer::start(200, &jwk_set(&[&RSA1]));
    let shutdown = CancellationToken::new();
    let hook = Jwt::new(&options(&server.url(), Some("50ms")), shutdown.clone())
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || server.hits() >= 3).await);
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = server.hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.hits(), after, "refreshing after shutdown");
    // Keys already fetched still verify: shutdown stops the refresh, not the hook.
    assert!(
        hook.verify(RSA1.sign(&good_claims(&hex())).as_bytes(), &HASH)
            .is_ok()
    );

    let hook = Jwt::new(
        &options(&server.url(), Some("50ms")),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let started = server.hits();
    assert!(eventually(Duration::from_secs(5), || server.hits() >= started + 2).await);
    drop(hook);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = server.hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.hits(), after, "refreshing after drop");
}

/// HTTPS works (the ring-backed TLS client handshakes) and certificates are
/// verified: a self-signed one is refused, and the error says so.
#[tokio::test]
async fn https_certificates_are_verified() {
    use std::sync::Arc;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::crypto::ring;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.is_ok()
    });

    let url = format!("https://127.0.0.1:{port}/jwks.json");
    let err = start_error(&options(&url, None)).await;
    assert!(
        err.starts_with("jwk_set_url: cannot fetch https://"),
        "{err}"
    );
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    let accepted = tokio::time::timeout(Duration::from_secs(5), handshakes)
        .await
        .expect("the client reached the TLS server")
        .unwrap();
    assert!(
        !accepted,
        "handshake with an untrusted certificate completed"
    );
}
