//! Raw HTTP/1.1 requests for the binary tests: every byte of the request
//! written by hand, the reply split into status line and body.

#![allow(dead_code)] // each test file uses a different part of this

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// Every byte percent-escaped: the one encoding every tracker must accept.
pub fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// One request on its own connection; returns (status line, body).
pub fn get(tracker: SocketAddr, target: &str) -> (String, Vec<u8>) {
    let stream = TcpStream::connect_timeout(&tracker, Duration::from_secs(5)).unwrap();
    exchange(stream, target)
}

/// As [`get`], from the address `local` (127.0.0.0/8 is all loopback on
/// Linux): the tracker takes an HTTP announcer's address from the socket,
/// so this is how a test emulates several hosts. std cannot bind before
/// connecting; socket2 can.
pub fn get_from(tracker: SocketAddr, local: IpAddr, target: &str) -> (String, Vec<u8>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(tracker), Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(local, 0).into()).unwrap();
    socket
        .connect_timeout(&tracker.into(), Duration::from_secs(5))
        .unwrap();
    exchange(socket.into(), target)
}

fn exchange(mut stream: TcpStream, target: &str) -> (String, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: tracker\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&reply)));
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let body = reply[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    assert_eq!(length.parse::<usize>().unwrap(), body.len(), "{head}");
    (head.lines().next().unwrap().to_string(), body)
}
