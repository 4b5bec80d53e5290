//! The real binary with the `jwt` prehook, its JWK set served on loopback:
//! over HTTP (token in the query) and UDP (token in BEP 41 URL data), a valid
//! token is answered and a missing or bad one gets Go chihaya's refusals.

mod support;
// Included by path rather than from support/mod.rs: the hook's unit tests
// include the same file.
#[path = "support/jwt.rs"]
mod jwt;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use jwt::{EC1, JwksServer, RSA1, RSA2, good_claims, jwk_set};
use support::http::{escape, get};
use support::{Running, STOP, both_frontends, free_port, write_config};

const HASH: [u8; 20] = *b"jwt-binary-test-hash";
const MISSING: &str = "unapproved request: missing jwt";
const INVALID: &str = "unapproved request: invalid jwt";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Both frontends on one port of 127.0.0.1, with the jwt hook reading `jwks_url`.
fn config(port: u16, jwks_url: &str) -> String {
    format!(
        "{}  prehooks:\n    - name: jwt\n      options:\n        issuer: \"{}\"\n        audience: \"{}\"\n        jwk_set_url: \"{jwks_url}\"\n        jwk_set_update_interval: 1m\n",
        both_frontends("127.0.0.1", port),
        jwt::ISSUER,
        jwt::AUDIENCE,
    )
}

/// The announce body over HTTP; `extra` is appended to the query.
fn http_announce(tracker: SocketAddr, extra: &str) -> String {
    let target = format!(
        "/announce?info_hash={}&peer_id={}&port=6881&uploaded=0&downloaded=0&left=10&compact=1{extra}",
        escape(&HASH),
        escape(b"-XX0001-jwtpeer00001"),
    );
    let (status, body) = get(tracker, &target);
    assert_eq!(status, "HTTP/1.1 200 OK");
    String::from_utf8(body).unwrap()
}

fn failure(reason: &str) -> String {
    format!("d14:failure reason{}:{reason}", reason.len())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// One request/reply on `socket`, retried at most 3 times (UDP may drop).
fn exchange(socket: &UdpSocket, packet: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        socket.send(packet).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            return buf[..n].to_vec();
        }
    }
    panic!("no UDP reply after 3 tries");
}

/// Connect, then announce with `url_data` as BEP 41 URLData options, split
/// into 255-byte chunks since a token is longer than one option holds (the
/// shared UDP client sends no options).
/// `Ok(interval)` for an announce reply, `Err(message)` for an error packet.
fn udp_announce(tracker: SocketAddr, url_data: &[u8]) -> Result<u32, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(tracker).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut connect = 0x41727101980u64.to_be_bytes().to_vec();
    connect.extend_from_slice(&0u32.to_be_bytes()); // action: connect
    connect.extend_from_slice(&7u32.to_be_bytes()); // transaction id
    let reply = exchange(&socket, &connect);
    assert_eq!((u32_at(&reply, 0), u32_at(&reply, 4)), (0, 7), "{reply:?}");
    let connection_id = &reply[8..16];

    let mut p = connection_id.to_vec();
    p.extend_from_slice(&1u32.to_be_bytes()); // action: announce
    p.extend_from_slice(&8u32.to_be_bytes()); // transaction id
    p.extend_from_slice(&HASH);
    p.extend_from_slice(b"-XX0001-jwtudppeer01");
    p.extend_from_slice(&[0; 8]); // downloaded
    p.extend_from_slice(&10u64.to_be_bytes()); // left
    p.extend_from_slice(&[0; 8]); // uploaded
    p.extend_from_slice(&2u32.to_be_bytes()); // event: started
    p.extend_from_slice(&[0; 4]); // ip: the sender's
    p.extend_from_slice(&9u32.to_be_bytes()); // key
    p.extend_from_slice(&(-1i32).to_be_bytes()); // numwant: default
    p.extend_from_slice(&6882u16.to_be_bytes());
    assert_eq!(p.len(), 98);
    for chunk in url_data.chunks(255) {
        p.push(2); // URLData
        p.push(chunk.len() as u8);
        p.extend_from_slice(chunk);
    }
    p.push(0); // EndOfOptions
    let reply = exchange(&socket, &p);
    assert_eq!(u32_at(&reply, 4), 8, "transaction id: {reply:?}");
    match u32_at(&reply, 0) {
        1 => Ok(u32_at(&reply, 8)),
        3 => Err(String::from_utf8_lossy(&reply[8..]).into_owned()),
        other => panic!("action {other} in {reply:?}"),
    }
}

#[test]
fn announces_need_a_valid_token_over_http_and_udp() {
    let jwks = JwksServer::start(200, &jwk_set(&[&RSA1, &EC1]));
    let port = free_port("127.0.0.1");
    let mut tracker = Running::with_config(&config(port, &jwks.url()));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tracker.wait_listening("http", addr);
    tracker.wait_listening("udp", addr);

    let rs256 = RSA1.sign(&good_claims(&hex(&HASH)));
    let es256 = EC1.sign(&good_claims(&hex(&HASH)));
    let other_hash = RSA1.sign(&good_claims(&hex(b"some-other-info-hash")));
    let unknown_key = RSA2.sign(&good_claims(&hex(&HASH)));

    // HTTP: the token is a query parameter like any other.
    for token in [&rs256, &es256] {
        let body = http_announce(addr, &format!("&jwt={token}"));
        assert!(
            body.contains("8:intervali1800e"),
            "valid token refused: {body}"
        );
        assert!(!body.contains("failure reason"), "{body}");
    }
    let body = http_announce(addr, "");
    assert!(body.starts_with(&failure(MISSING)), "{body}");
    for bad in [&other_hash, &unknown_key, &format!("{rs256}x")] {
        let body = http_announce(addr, &format!("&jwt={bad}"));
        assert!(body.starts_with(&failure(INVALID)), "{body}");
    }

    // UDP: the token rides in BEP 41 URL data.
    for token in [&rs256, &es256] {
        let url_data = format!("/announce?jwt={token}");
        assert_eq!(udp_announce(addr, url_data.as_bytes()), Ok(1800));
    }
    assert_eq!(udp_announce(addr, b""), Err(MISSING.into()));
    assert_eq!(udp_announce(addr, b"/announce"), Err(MISSING.into()));
    for bad in [&other_hash, &unknown_key] {
        let url_data = format!("/announce?jwt={bad}");
        assert_eq!(udp_announce(addr, url_data.as_bytes()), Err(INVALID.into()));
    }
    assert_eq!(jwks.hits(), 1, "one fetch at start, none per request");
}

#[test]
fn the_tracker_does_not_start_without_its_key_set() {
    let jwks = JwksServer::start(500, "down for maintenance");
    let port = free_port("127.0.0.1");
    let mut tracker = Running::start(Some(write_config(&config(port, &jwks.url()))), &[]);
    let status = tracker
        .wait_exit(support::STARTUP + STOP)
        .expect("chihaya should exit when the JWK set cannot be fetched");
    assert!(!status.success(), "{status}");
    let log = tracker.stderr();
    assert!(
        log.contains("jwk_set_url: cannot fetch") && log.contains("500"),
        "{log}"
    );
}
