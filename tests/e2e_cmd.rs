//! `chihaya e2e` run as an operator would: against the real binary serving on
//! loopback (it must pass), against a closed port (it must fail quickly and
//! say why), and against a fake tracker that never hands out peers (it must
//! notice).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Finished, Tracker, free_port, run_bounded};

/// Far above what a passing or failing run needs; only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

fn e2e(args: &[&str]) -> Finished {
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chihaya"));
    cmd.arg("e2e").args(args);
    let run = run_bounded(cmd, LIMIT, scratch.path());
    eprintln!(
        "chihaya e2e {args:?} took {:.2?}\n--- stdout:\n{}--- stderr:\n{}",
        run.elapsed, run.stdout, run.stderr
    );
    run
}

fn exit_code(run: &Finished) -> i32 {
    run.status
        .unwrap_or_else(|| panic!("chihaya e2e was killed after {LIMIT:?}"))
        .code()
        .expect("exited, not killed by a signal")
}

fn passes_against(ip: &str) {
    let tracker = Tracker::start(ip.parse().unwrap());
    let http = tracker.http_announce_url();
    let udp = tracker.udp_url();
    let run = e2e(&["--httpaddr", &http, "--udpaddr", &udp, "--delay", "100ms"]);
    assert_eq!(
        exit_code(&run),
        0,
        "e2e against a working tracker\n{}\ntracker stderr:\n{}",
        run.stdout,
        tracker.stderr()
    );
    for line in [
        "http: peer 2 received peer 1: ok",
        "http: peer 1 received peer 2: ok",
        "udp: peer 2 received peer 1: ok",
        "udp: peer 1 received peer 2: ok",
        "e2e: all checks passed",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "missing line {line:?} in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn passes_against_the_real_tracker_ipv4() {
    passes_against("127.0.0.1");
}

#[test]
fn passes_against_the_real_tracker_ipv6() {
    passes_against("::1");
}

#[test]
fn fails_quickly_against_a_closed_port() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    // Nothing listens on this port (TCP or UDP) once free_port returns.
    let port = free_port(ip);
    let started = Instant::now();
    let run = e2e(&[
        "--httpaddr",
        &format!("http://127.0.0.1:{port}/announce"),
        "--udpaddr",
        &format!("udp://127.0.0.1:{port}"),
    ]);
    assert_eq!(exit_code(&run), 1, "e2e against a closed port");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let out = &run.stdout;
    assert!(
        out.lines()
            .any(|l| l.starts_with("http: FAILED") && l.contains(&port.to_string())),
        "no http failure naming the address in:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("udp: FAILED")),
        "no udp failure in:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("e2e: FAILED")),
        "no summary in:\n{out}"
    );
}

/// An HTTP "tracker" that answers every request with an empty peer list.
fn peerless_http_tracker() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + LIMIT;
        let mut served = 0;
        // e2e makes 5 announces: two started, a re-announce, two stopped.
        while served < 5 && Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = b"d8:completei0e10:incompletei0e8:intervali1800e5:peers0:e";
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = conn.write_all(body);
            served += 1;
        }
    });
    (addr, handle)
}

/// A UDP "tracker" that issues connection IDs and answers announces with no peers.
fn peerless_udp_tracker() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + LIMIT;
        let mut announces = 0;
        let mut buf = [0u8; 2048];
        while announces < 5 && Instant::now() < deadline {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if n < 16 {
                continue;
            }
            let action = u32::from_be_bytes(buf[8..12].try_into().unwrap());
            let tid = &buf[12..16];
            let mut reply = Vec::new();
            reply.extend_from_slice(&action.to_be_bytes());
            reply.extend_from_slice(tid);
            match action {
                0 => reply.extend_from_slice(&42u64.to_be_bytes()),
                1 => {
                    announces += 1;
                    for v in [1800u32, 0, 0] {
                        reply.extend_from_slice(&v.to_be_bytes());
                    }
                }
                _ => continue,
            }
            let _ = sock.send_to(&reply, from);
        }
    });
    (addr, handle)
}

#[test]
fn notices_a_tracker_that_hands_out_no_peers() {
    let (http, http_thread) = peerless_http_tracker();
    let (udp, udp_thread) = peerless_udp_tracker();
    let run = e2e(&[
        "--httpaddr",
        &format!("http://{http}/announce"),
        "--udpaddr",
        &format!("udp://{udp}"),
        "--delay",
        "0s",
    ]);
    assert_eq!(exit_code(&run), 1, "e2e against a peerless tracker");
    for prefix in [
        "http: peer 2 received peer 1: FAILED",
        "http: peer 1 received peer 2: FAILED",
        "udp: peer 2 received peer 1: FAILED",
        "udp: peer 1 received peer 2: FAILED",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(prefix) && l.contains("expected")),
            "no line {prefix:?} saying what was expected in:\n{}",
            run.stdout
        );
    }
    http_thread.join().unwrap();
    udp_thread.join().unwrap();
}
