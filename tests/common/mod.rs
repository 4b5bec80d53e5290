//! Shared by the integration tests that run the real `chihaya` binary: free
//! loopback ports, a config file, a tracker process that is killed on drop,
//! and bounded waits for it to answer.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the tracker may take to start answering.
pub const STARTUP: Duration = Duration::from_secs(20);

/// A port free for both TCP and UDP on `ip` (the tracker binds both).
/// Another process may still take it before the tracker does; [`Tracker::start`]
/// retries with new ports when the tracker exits early.
pub fn free_port(ip: IpAddr) -> u16 {
    for _ in 0..100 {
        let tcp = TcpListener::bind((ip, 0)).expect("bind a loopback TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on {ip} after 100 tries");
}

/// A running tracker; killed (and reaped) on drop.
pub struct Tracker {
    pub child: Child,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub dir: tempfile::TempDir,
    stderr_path: PathBuf,
}

impl Tracker {
    /// Starts `chihaya --config FILE` with HTTP and UDP on loopback `ip`, and
    /// waits (bounded) until both frontends answer.
    pub fn start(ip: IpAddr) -> Tracker {
        let mut last_err = String::new();
        for attempt in 1..=3 {
            match Self::try_start(ip) {
                Ok(t) => return t,
                Err(e) => {
                    eprintln!("tracker start attempt {attempt} failed: {e}");
                    last_err = e;
                }
            }
        }
        panic!("the tracker did not start on {ip}: {last_err}");
    }

    fn try_start(ip: IpAddr) -> Result<Tracker, String> {
        let http = SocketAddr::new(ip, free_port(ip));
        let udp = SocketAddr::new(ip, free_port(ip));
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("chihaya.yaml");
        std::fs::write(
            &config,
            format!(
                "chihaya:\n  announce_interval: 30m\n  min_announce_interval: 15m\n  \
                 http:\n    addr: \"{http}\"\n  \
                 udp:\n    addr: \"{udp}\"\n    private_key: test\n  \
                 storage:\n    name: memory\n  metrics_addr: \"\"\n"
            ),
        )
        .expect("write config");
        let stderr_path = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_chihaya"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", env!("CARGO_BIN_EXE_chihaya")))?;
        let mut tracker = Tracker {
            child,
            http,
            udp,
            dir,
            stderr_path,
        };
        let deadline = Instant::now() + STARTUP;
        let mut http_up = false;
        let mut udp_up = false;
        while !(http_up && udp_up) {
            if let Some(status) = tracker.child.try_wait().unwrap() {
                return Err(format!(
                    "the tracker exited with {status} before answering; its stderr:\n{}",
                    tracker.stderr()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer within {STARTUP:?} (http {http}: {http_up}, udp {udp}: {udp_up}); \
                     its stderr:\n{}",
                    tracker.stderr()
                ));
            }
            http_up =
                http_up || TcpStream::connect_timeout(&http, Duration::from_millis(200)).is_ok();
            udp_up = udp_up || udp_connect_answered(udp);
            if !(http_up && udp_up) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(tracker)
    }

    pub fn http_announce_url(&self) -> String {
        format!("http://{}/announce", self.http)
    }

    pub fn udp_url(&self) -> String {
        format!("udp://{}", self.udp)
    }

    /// What the tracker wrote to stderr so far (for failure messages).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one BEP 15 connect request; true when a well-formed reply arrives.
fn udp_connect_answered(server: SocketAddr) -> bool {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => "127.0.0.1:0".parse().unwrap(),
        SocketAddr::V6(_) => "[::1]:0".parse().unwrap(),
    };
    let Ok(sock) = UdpSocket::bind(bind) else {
        return false;
    };
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut packet = Vec::with_capacity(16);
    packet.extend_from_slice(&0x41727101980u64.to_be_bytes());
    packet.extend_from_slice(&0u32.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    if sock.send_to(&packet, server).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(sock.recv_from(&mut buf), Ok((16, _)) if buf[..8] == [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78])
}

/// The output of a finished (or killed) child process.
pub struct Finished {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmd` with stdout and stderr captured in files (no pipe can fill up)
/// and kills it after `limit`; `status` is None when it had to be killed.
pub fn run_bounded(mut cmd: Command, limit: Duration, scratch: &Path) -> Finished {
    let out_path = scratch.join("child.stdout");
    let err_path = scratch.join("child.stderr");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| {
        let mut s = String::new();
        File::open(p)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map(|_| s)
            .unwrap_or_default()
    };
    Finished {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
        elapsed: started.elapsed(),
    }
}
