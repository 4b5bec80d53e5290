//! The real binary against hostile HTTP clients: thousands of idle and
//! half-sent connections (slowloris) do not keep an honest client from being
//! answered promptly, and are cut off by the read timeout; connections over
//! `max_connections` are closed at once; anything that is not a GET of a
//! known path gets a short, correct HTTP error.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{Running, free_port};

const SLOW_CLIENTS: usize = 3000;

/// HTTP only, with `read_timeout` and any further `http:` keys in `extra`.
fn start(read_timeout: &str, extra: &str) -> (Running, SocketAddr) {
    let port = free_port("127.0.0.1");
    let yaml = format!(
        "chihaya:\n  http:\n    addr: \"127.0.0.1:{port}\"\n    read_timeout: {read_timeout}\n    write_timeout: 2s\n{extra}"
    );
    let mut tracker = Running::with_config(&yaml);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    tracker.wait_listening("http", addr);
    (tracker, addr)
}

fn dial(addr: SocketAddr) -> TcpStream {
    try_dial(addr).expect("connection reset while connecting")
}

/// Connects; `None` when the server reset the connection before the
/// connect call had even returned (what it does to one over the cap: a
/// non-blocking connect reports the socket's error as its own).
fn try_dial(addr: SocketAddr) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(stream) => {
            // Fails with the reset itself when a connection over the cap
            // was already reset; reading then says so.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            Some(stream)
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
        Err(e) => panic!("connect to {addr}: {e}"),
    }
}

/// Sends `request` as is and returns everything the server wrote before closing.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    // A connection over the cap may be reset before the request is even
    // written: that is an empty reply, not a test failure.
    let Some(mut stream) = try_dial(addr) else {
        return String::new();
    };
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

fn announce_target(port: u16) -> String {
    format!(
        "/announce?info_hash=%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14&peer_id=-XX0001-000000000001&port={port}&uploaded=0&downloaded=0&left=5"
    )
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
}

/// An announce on a fresh connection; the time until the whole reply was in.
fn timed_announce(addr: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    let reply = raw(addr, &get(&announce_target(6881)));
    (reply, started.elapsed())
}

#[test]
fn slowloris_does_not_delay_an_honest_announce_and_is_cut_off() {
    let limit = chihaya::server::limits::raise_open_files().unwrap();
    assert!(
        limit.now.is_none_or(|n| n > SLOW_CLIENTS as u64 + 100),
        "this test needs {SLOW_CLIENTS} descriptors: {limit:?}"
    );
    let (_tracker, addr) = start("3s", "");
    let opened = Instant::now();
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for i in 0..SLOW_CLIENTS {
        let mut stream = dial(addr);
        // A third say nothing; the rest send a request line and stall mid-headers.
        if i % 3 != 0 {
            stream
                .write_all(b"GET /announce?info_hash=x HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .unwrap();
        }
        slow.push(stream);
    }
    eprintln!(
        "{SLOW_CLIENTS} slow connections open in {:?}",
        opened.elapsed()
    );

    let (reply, took) = timed_announce(addr);
    eprintln!("honest announce answered in {took:?} beside {SLOW_CLIENTS} slow connections");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.contains("8:intervali1800e"), "{reply}");
    assert!(took < Duration::from_secs(2), "announce took {took:?}");

    // read_timeout (3s) closes the silent ones, read + write (5s) the stalled
    // ones; all of them well within 15s of being opened.
    let deadline = opened + Duration::from_secs(15);
    let mut closed = 0;
    for stream in &mut slow {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(_) => closed += 1, // EOF, or an error status then EOF
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, SLOW_CLIENTS, "connections still open after 15s");
    let (reply, _) = timed_announce(addr);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
}

/// Whether the server closed `stream` (EOF or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    if let Err(e) = stream.set_read_timeout(Some(limit)) {
        return e.kind() == ErrorKind::ConnectionReset;
    }
    match stream.read(&mut [0u8; 64]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
    }
}

#[test]
fn connections_over_max_connections_are_closed_at_once() {
    let (tracker, addr) = start("30s", "    max_connections: 20\n");
    let held: Vec<TcpStream> = (0..20).map(|_| dial(addr)).collect();
    // Accepted in order, so by the time an extra one is reset, all 20 hold slots.
    let started = Instant::now();
    let closed = match try_dial(addr) {
        None => true,
        Some(mut extra) => closed_within(&mut extra, Duration::from_secs(2)),
    };
    assert!(closed, "the 21st connection was kept open");
    let took = started.elapsed();
    eprintln!("connection over the cap closed after {took:?}");
    let (reply, _) = timed_announce(addr);
    assert!(reply.is_empty(), "served over the cap: {reply}");
    tracker.wait_log("connection limit reached");

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (reply, _) = timed_announce(addr);
        if reply.starts_with("HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "slots not freed: {reply:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn short_correct_answers_to_wrong_requests() {
    let (_tracker, addr) = start("3s", "");
    let target = announce_target(6881);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"] {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
        let reply = raw(addr, request.as_bytes());
        assert!(
            reply.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{method}: {reply}"
        );
        assert!(reply.contains("allow: GET, HEAD\r\n"), "{method}: {reply}");
        assert!(reply.len() < 300, "{method}: {} bytes", reply.len());
    }

    let head = raw(
        addr,
        format!("HEAD {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");

    let unknown = raw(addr, &get("/wp-admin.php?x=1"));
    assert!(
        unknown.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{unknown}"
    );

    for malformed in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /announce HTTP/9.9\r\n\r\n",
        b"GET /announce HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
    ] {
        let reply = raw(addr, malformed);
        assert!(
            reply.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{:?}: {reply:?}",
            String::from_utf8_lossy(malformed)
        );
    }

    let huge = format!(
        "GET /announce HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let reply = raw(addr, huge.as_bytes());
    assert!(
        reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{reply:?}"
    );

    let (reply, _) = timed_announce(addr);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
}
