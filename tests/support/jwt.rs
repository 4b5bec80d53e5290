//! For testing the `jwt` hook: a JWK set served over loopback HTTP, and tokens
//! signed with the test keys in tests/fixtures/jwt/.
//!
//! Shared by the hook's unit tests (included by path) and the binary tests.
//! The server is a plain thread so it works under any tokio runtime flavour
//! and in synchronous tests alike.

#![allow(dead_code)] // each user takes a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "tracker.test";

/// A private test key and the kid its public half is published under.
pub struct TestKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    pem: &'static str,
}

pub const RSA1: TestKey = TestKey {
    kid: "rsa1",
    alg: Algorithm::RS256,
    pem: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/rsa1.pem"
    )),
};
pub const RSA2: TestKey = TestKey {
    kid: "rsa2",
    alg: Algorithm::RS256,
    pem: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/rsa2.pem"
    )),
};
pub const EC1: TestKey = TestKey {
    kid: "ec1",
    alg: Algorithm::ES256,
    pem: include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/ec1.pem"
    )),
};

impl TestKey {
    pub fn encoding_key(&self) -> EncodingKey {
        match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(self.pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(self.pem.as_bytes()).unwrap(),
        }
    }

    /// The public JWK, derived from the private key so fixture and JWK can
    /// never drift apart.
    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.into());
        serde_json::to_value(jwk).unwrap()
    }

    /// A token with this key's alg and kid in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.into());
        self.sign_with(header, claims)
    }

    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }
}

/// `{"keys": [...]}` with the public halves of `keys`.
pub fn jwk_set(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims that pass every check for `info_hash_hex`, valid for an hour.
pub fn good_claims(info_hash_hex: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 3600,
        "infohash": info_hash_hex,
    })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token that says `alg: none` and has no signature.
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string();
    format!(
        "{}.{}.",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// What the server answers, changeable while it runs (key rotation, outages).
struct Reply {
    status: u16,
    body: String,
}

/// Serves one JWK set document to every GET, counting requests.
pub struct JwksServer {
    addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    pub fn start(status: u16, body: &str) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(Reply {
            status,
            body: body.into(),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (reply.clone(), hits.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(conn, &r, &h);
                }
            }
        });
        JwksServer {
            addr,
            reply,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = Reply {
            status,
            body: body.into(),
        };
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (bounded in size and time) and answers it.
fn serve(mut conn: TcpStream, reply: &Mutex<Reply>, hits: &AtomicUsize) {
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = {
        let r = reply.lock().unwrap();
        (r.status, r.body.clone())
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}
