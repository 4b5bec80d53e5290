//! The HTTP frontend over real loopback sockets, spoken to in raw HTTP/1.1 so
//! every byte the client sees is asserted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chihaya::config::{Config, HttpConfig, StorageConfig};
use chihaya::frontend::http::HttpFrontend;
use chihaya::middleware::Tracker;
use chihaya::protocol::bencode::{Value, decode};
use chihaya::protocol::query::percent_encode;
use chihaya::storage::Storage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// Upper bound for any single step, so a broken server fails a test instead of hanging it.
const STEP: Duration = Duration::from_secs(10);

struct Server {
    addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(config: HttpConfig) -> Server {
        let storage = Arc::new(Storage::open(&StorageConfig::default()).await.unwrap());
        let tracker = Arc::new(Tracker::new(&Config::default(), storage));
        let frontend = HttpFrontend::bind(&config).await.expect("bind");
        let addrs = frontend.local_addrs();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(frontend.serve(tracker, shutdown.clone()));
        Server {
            addrs,
            shutdown,
            task,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let served = timeout(STEP, self.task)
            .await
            .expect("serve returns after shutdown");
        served.expect("serve task").expect("serve result");
    }
}

fn plain(addr: &str) -> HttpConfig {
    HttpConfig {
        addr: Some(addr.parse().unwrap()),
        ..HttpConfig::default()
    }
}

fn announce_query(hash: u8, peer: u8, port: u16, left: u64) -> String {
    format!(
        "info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}",
        percent_encode(&[hash; 20]),
        percent_encode(&[peer; 20])
    )
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: tracker\r\n\r\n")
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn bencode(&self) -> Value {
        decode(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", self.body.escape_ascii().to_string()))
    }
}

/// Reads exactly one response (head, then `Content-Length` bytes of body).
async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> Reply {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a full reply head: {:?}",
            buf.escape_ascii().to_string()
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let mut reply = Reply {
        status,
        head,
        body: buf[head_end..].to_vec(),
    };
    let length: usize = reply
        .header("content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    while reply.body.len() < length {
        let mut chunk = [0u8; 1024];
        let n = timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("body in time")
            .expect("read");
        assert!(n > 0, "connection closed inside the body");
        reply.body.extend_from_slice(&chunk[..n]);
    }
    reply
}

/// Sends one request on a fresh connection and reads one reply.
async fn exchange(addr: SocketAddr, request: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_reply(&mut stream).await
}

/// True once the peer has closed the connection (EOF or reset).
async fn closed_by_server<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        timeout(STEP, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn failure(reason: &str) -> Vec<u8> {
    format!(
        "d14:failure reason{}:{reason}8:intervali1800e12:min intervali900ee",
        reason.len()
    )
    .into_bytes()
}

fn assert_announce_shape(reply: &Reply) {
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    let v = reply.bencode();
    assert_eq!(v.get(b"failure reason"), None, "{v:?}");
    assert_eq!(v.get(b"interval").and_then(Value::as_int), Some(1800));
    assert_eq!(v.get(b"min interval").and_then(Value::as_int), Some(900));
    assert!(v.get(b"complete").and_then(Value::as_int).is_some());
    assert!(v.get(b"incomplete").and_then(Value::as_int).is_some());
    assert!(v.get(b"peers").and_then(Value::as_bytes).is_some());
}

#[tokio::test]
async fn announce_over_ipv4_and_ipv6_loopback() {
    for addr in ["127.0.0.1:0", "[::1]:0"] {
        let server = Server::start(plain(addr)).await;
        let reply = exchange(
            server.addr(),
            &get(&format!("/announce?{}", announce_query(1, 1, 6881, 5))),
        )
        .await;
        assert_announce_shape(&reply);
        // The only peer in the swarm is the announcer, and it never gets itself back.
        assert_eq!(
            reply.bencode().get(b"peers").and_then(Value::as_bytes),
            Some(&b""[..])
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn scrape_answers_each_hash() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let hashes = format!(
        "info_hash={}&info_hash={}",
        percent_encode(&[2; 20]),
        percent_encode(&[1; 20])
    );
    let reply = exchange(server.addr(), &get(&format!("/scrape?{hashes}"))).await;
    assert_eq!(reply.status, 200);
    let mut expected = b"d5:filesd".to_vec();
    for byte in [1u8, 2] {
        expected.extend_from_slice(b"20:");
        expected.extend_from_slice(&[byte; 20]);
        expected.extend_from_slice(b"d8:completei0e10:downloadedi0e10:incompletei0ee");
    }
    expected.extend_from_slice(b"ee");
    assert_eq!(
        reply.body,
        expected,
        "{:?}",
        reply.body.escape_ascii().to_string()
    );
    server.stop().await;
}

#[tokio::test]
async fn client_errors_are_200_with_failure_reason() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let full = announce_query(1, 1, 6881, 0);
    let cases = [
        ("/announce".to_string(), "missing info_hash"),
        (
            format!("/announce?{}", full.replace("port=6881", "port=0")),
            "invalid port",
        ),
        (format!("/announce?{full}&event=bogus"), "invalid event"),
        (
            format!("/announce?{full}&numwant=%zz"),
            "invalid query string: malformed percent-escape",
        ),
        (
            format!("/announce?{}", full.replace("info_hash=", "info_hash=%41")),
            "invalid info_hash: must be 20 bytes",
        ),
        ("/scrape".to_string(), "no info_hash given"),
    ];
    for (target, reason) in cases {
        let reply = exchange(server.addr(), &get(&target)).await;
        assert_eq!(reply.status, 200, "{target}");
        assert_eq!(
            reply.body,
            failure(reason),
            "{target}: {:?}",
            reply.body.escape_ascii().to_string()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    for target in ["/", "/nope", "/announce/extra", "/scrapes?info_hash=x"] {
        let reply = exchange(server.addr(), &get(target)).await;
        assert_eq!(reply.status, 404, "{target}");
        assert_eq!(reply.body, b"404 page not found\n");
    }
    server.stop().await;
}

#[tokio::test]
async fn named_and_catch_all_routes() {
    let server = Server::start(HttpConfig {
        announce_routes: vec!["/:passkey/announce".into()],
        scrape_routes: vec!["/s/*rest".into()],
        ..plain("127.0.0.1:0")
    })
    .await;
    let query = announce_query(1, 1, 6881, 0);
    assert_announce_shape(
        &exchange(server.addr(), &get(&format!("/abc123/announce?{query}"))).await,
    );
    assert_eq!(
        exchange(server.addr(), &get(&format!("/announce?{query}")))
            .await
            .status,
        404
    );
    let scrape = exchange(
        server.addr(),
        &get(&format!(
            "/s/any/thing?info_hash={}",
            percent_encode(&[1; 20])
        )),
    )
    .await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.bencode().get(b"files").is_some());
    server.stop().await;
}

#[tokio::test]
async fn without_keepalive_each_connection_gets_one_reply() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let request = get(&format!("/announce?{}", announce_query(1, 1, 6881, 0)));
    stream
        .write_all(request.repeat(2).as_bytes())
        .await
        .unwrap();
    let reply = read_reply(&mut stream).await;
    assert_announce_shape(&reply);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_by_server(&mut stream).await);
    server.stop().await;
}

#[tokio::test]
async fn keepalive_serves_several_requests_then_idles_out() {
    let idle = Duration::from_millis(300);
    let server = Server::start(HttpConfig {
        enable_keepalive: true,
        idle_timeout: idle,
        ..plain("127.0.0.1:0")
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let request = get(&format!("/announce?{}", announce_query(1, 1, 6881, 0)));
    for _ in 0..3 {
        stream.write_all(request.as_bytes()).await.unwrap();
        let reply = read_reply(&mut stream).await;
        assert_announce_shape(&reply);
        assert_eq!(reply.header("connection"), None);
    }
    let idle_since = Instant::now();
    assert!(closed_by_server(&mut stream).await);
    assert!(
        idle_since.elapsed() >= idle - Duration::from_millis(50),
        "closed after {:?}",
        idle_since.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_clients_are_dropped_after_read_timeout() {
    let server = Server::start(HttpConfig {
        read_timeout: Duration::from_millis(200),
        ..plain("127.0.0.1:0")
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET /announce HTTP/1.1\r\n")
        .await
        .unwrap();
    assert!(closed_by_server(&mut stream).await);
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let target = format!("/announce?pad={}", "x".repeat(20 * 1024));
    // The server may stop reading (and reset) before the whole request is written.
    let _ = stream.write_all(get(&target).as_bytes()).await;
    let mut buf = Vec::new();
    let _ = timeout(STEP, stream.read_to_end(&mut buf))
        .await
        .expect("server answers or closes");
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let request = get(&format!("/announce?{}", announce_query(1, 1, 6881, 0)));
    let (start, end) = request.split_at(request.len() - 2);
    stream.write_all(start.as_bytes()).await.unwrap();
    // Let the server accept the connection and start reading the request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(server.addr()).await.is_err(),
        "no longer accepting"
    );
    stream.write_all(end.as_bytes()).await.unwrap();
    assert_announce_shape(&read_reply(&mut stream).await);
    server.stop().await;
}

#[tokio::test]
async fn real_ip_header_is_used_and_checked() {
    let server = Server::start(HttpConfig {
        real_ip_header: "X-Forwarded-For".into(),
        ..plain("127.0.0.1:0")
    })
    .await;
    let target = format!("/announce?{}", announce_query(1, 1, 6881, 0));
    let with_header = |value: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {value}\r\n\r\n")
    };
    assert_announce_shape(&exchange(server.addr(), &with_header("6.6.6.6, 10.1.2.3")).await);
    assert_announce_shape(&exchange(server.addr(), &get(&target)).await);
    let bad = exchange(server.addr(), &with_header("10.1.2.3, not-an-ip")).await;
    assert_eq!(bad.body, failure("invalid X-Forwarded-For header"));
    server.stop().await;
}

#[tokio::test]
async fn bind_errors_name_the_address() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let taken = server.addr();
    let err = HttpFrontend::bind(&HttpConfig {
        addr: Some(taken),
        ..HttpConfig::default()
    })
    .await
    .err()
    .expect("second bind on the same port fails");
    assert!(format!("{err:#}").contains(&taken.to_string()), "{err:#}");
    server.stop().await;
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let server = Server::start(HttpConfig {
        addr: Some("127.0.0.1:0".parse().unwrap()),
        https_addr: Some("127.0.0.1:0".parse().unwrap()),
        tls_cert_path: cert_path.to_str().unwrap().into(),
        tls_key_path: key_path.to_str().unwrap().into(),
        ..HttpConfig::default()
    })
    .await;
    assert_eq!(server.addrs.len(), 2);

    let mut roots = RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(server.addrs[1]).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = timeout(STEP, connector.connect(name, tcp))
        .await
        .unwrap()
        .expect("tls handshake");
    let request = get(&format!("/announce?{}", announce_query(1, 1, 6881, 0)));
    tls.write_all(request.as_bytes()).await.unwrap();
    assert_announce_shape(&read_reply(&mut tls).await);
    server.stop().await;
}

#[tokio::test]
async fn missing_tls_files_are_named() {
    let err = HttpFrontend::bind(&HttpConfig {
        https_addr: Some("127.0.0.1:0".parse().unwrap()),
        tls_cert_path: "/nonexistent/cert.pem".into(),
        tls_key_path: "/nonexistent/key.pem".into(),
        ..HttpConfig::default()
    })
    .await
    .err()
    .expect("bind fails");
    assert!(
        format!("{err:#}").contains("/nonexistent/cert.pem"),
        "{err:#}"
    );
}

fn compact_peer(reply: &Reply) -> Vec<u8> {
    reply
        .bencode()
        .get(b"peers")
        .and_then(Value::as_bytes)
        .unwrap()
        .to_vec()
}

fn counts(reply: &Reply) -> (i64, i64) {
    let v = reply.bencode();
    let get = |k: &[u8]| v.get(k).and_then(Value::as_int).unwrap();
    (get(b"complete"), get(b"incomplete"))
}

#[tokio::test]
async fn peers_meet_and_are_counted() {
    let server = Server::start(plain("127.0.0.1:0")).await;
    let leecher = exchange(
        server.addr(),
        &get(&format!("/announce?{}", announce_query(9, 1, 1111, 10))),
    )
    .await;
    assert_eq!(counts(&leecher), (0, 1));
    assert_eq!(compact_peer(&leecher), b"");
    let seeder = exchange(
        server.addr(),
        &get(&format!("/announce?{}", announce_query(9, 2, 2222, 0))),
    )
    .await;
    assert_eq!(counts(&seeder), (1, 1));
    assert_eq!(compact_peer(&seeder), [127, 0, 0, 1, 0x04, 0x57]);
    let again = exchange(
        server.addr(),
        &get(&format!("/announce?{}", announce_query(9, 1, 1111, 10))),
    )
    .await;
    assert_eq!(compact_peer(&again), [127, 0, 0, 1, 0x08, 0xae]);
    let scrape = exchange(
        server.addr(),
        &get(&format!("/scrape?info_hash={}", percent_encode(&[9; 20]))),
    )
    .await;
    let files = scrape.bencode();
    let file = files.get(b"files").and_then(|f| f.get(&[9; 20])).unwrap();
    assert_eq!(file.get(b"complete").and_then(Value::as_int), Some(1));
    assert_eq!(file.get(b"incomplete").and_then(Value::as_int), Some(1));
    server.stop().await;
}

#[tokio::test]
async fn forwarded_address_is_what_other_peers_see() {
    let server = Server::start(HttpConfig {
        real_ip_header: "X-Forwarded-For".into(),
        ..plain("127.0.0.1:0")
    })
    .await;
    let first = format!(
        "GET /announce?{} HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6, 10.1.2.3\r\n\r\n",
        announce_query(7, 1, 1111, 10)
    );
    exchange(server.addr(), &first).await;
    let second = exchange(
        server.addr(),
        &get(&format!("/announce?{}", announce_query(7, 2, 2222, 0))),
    )
    .await;
    assert_eq!(compact_peer(&second), [10, 1, 2, 3, 0x04, 0x57]);
    server.stop().await;
}
