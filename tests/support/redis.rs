//! Real `redis-server` processes for the Redis storage tests.
//!
//! Each server is its own process on 127.0.0.1 at a port picked here, with no
//! persistence, in a temporary directory, killed when dropped. A missing
//! `redis-server` is a failure, not a skip: `scripts/setup` installs it.

#![allow(dead_code)] // each test file uses a different part of this

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core machine, short enough to fail fast.
const READY: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1 whose cluster bus port (+10000) is free too.
pub fn free_redis_port() -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for redis on 127.0.0.1");
}

/// One `redis-server`; stopped (and restartable) by the test, killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    cluster: bool,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::spawn(false)
    }

    /// A node ready to join a cluster (`--cluster-enabled yes`).
    pub fn start_cluster_node() -> RedisServer {
        RedisServer::spawn(true)
    }

    fn spawn(cluster: bool) -> RedisServer {
        let mut server = RedisServer {
            port: free_redis_port(),
            dir: tempfile::tempdir().unwrap(),
            cluster,
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the process (again, on the same port) and waits for PONG.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): run `bash scripts/setup` to install it")
        });
        self.child = Some(child);
        wait_for_pong(self.port);
    }

    /// Kills the process (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One command through `redis-cli`, e.g. `["CLUSTER", "INFO"]`.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(&["-p", &self.port.to_string()], args)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_cli(conn: &[&str], args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1"])
        .args(conn)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): run `bash scripts/setup`"));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn wait_for_pong(port: u16) {
    let deadline = Instant::now() + READY;
    while Instant::now() < deadline {
        if ping(port) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server on port {port} did not answer PING within {READY:?}");
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Three masters, no replicas, slots spread by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_cluster_node()).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = redis_cli(&[], &args);
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(&created);
        cluster
    }

    /// The broker URL of the first node (the tracker discovers the rest).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    fn wait_ok(&self, created: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let all_ok = self
                .nodes
                .iter()
                .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"));
            if all_ok {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("the redis cluster did not become ok within 20s; create said:\n{created}");
    }
}
