//! The binary with its admin API on a test-picked loopback port, and raw
//! HTTP/1.1 requests to it (any method, a bearer token, a JSON body).

#![allow(dead_code)] // each test file uses a different part of this

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{Running, free_port};

pub const TOKEN: &str = "test-admin-token-0123456789";

/// A tracker with HTTP and UDP on one port, the ops server on another.
pub struct Admin {
    pub running: Running,
    pub addr: SocketAddr,
    pub ops: SocketAddr,
    /// The config file, for tests that edit it and reload.
    pub config: std::path::PathBuf,
}

impl Admin {
    /// `token` is the `admin_token:` line's value (`None`: no such line);
    /// `extra` is YAML at the `chihaya:` block's indentation (prehooks,
    /// storage), `storage` the whole `storage:` section.
    pub fn start(token: Option<&str>, extra: &str, storage: &str) -> Admin {
        let port = free_port("127.0.0.1");
        let ops = SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1")));
        let token = token.map_or(String::new(), |t| format!("  admin_token: \"{t}\"\n"));
        let yaml = format!(
            "chihaya:\n  metrics_addr: \"{ops}\"\n{token}  http:\n    addr: \"127.0.0.1:{port}\"\n  udp:\n    addr: \"127.0.0.1:{port}\"\n    private_key: \"test key\"\n{storage}{extra}"
        );
        let file = super::write_config(&yaml);
        let config = file.path.clone();
        let mut running = Running::start(Some(file), &[]);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        running.wait_listening("http", addr);
        running.wait_listening("udp", addr);
        running.wait_log(&format!(
            "ops server listening (metrics, stats, health) addr={ops}"
        ));
        Admin {
            running,
            addr,
            ops,
            config,
        }
    }

    /// A request with the right token: (status, body as JSON).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (status, _, text) = request(self.ops, method, path, Some(TOKEN), body);
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
        (status, json)
    }
}

/// One request on its own connection: (status, head, body).
pub fn request(
    to: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading all of a large body.
    let _ = stream.write_all(body.as_bytes());
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8(reply).expect("ops replies are UTF-8");
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {reply:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}
