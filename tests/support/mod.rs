//! Starting the real `chihaya` binary for a test, and stopping it for sure.
//!
//! Every wait here is bounded: a test that hangs tells nobody anything.

#![allow(dead_code)] // each test file uses a different part of this

pub mod admin;
pub mod http;
pub mod ops;
pub mod postgres;
pub mod private;
pub mod redis;
pub mod udp;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_chihaya");

/// Long enough for a debug build on a loaded 2-core machine, short enough
/// that a hang fails the test quickly.
pub const STARTUP: Duration = Duration::from_secs(15);
/// The tracker promises to stop within a few seconds of a signal.
pub const STOP: Duration = Duration::from_secs(6);

/// A port that is free for both TCP and UDP on `ip` right now, so one number
/// serves both frontends as in the example config.
pub fn free_port(ip: &str) -> u16 {
    let ip: IpAddr = ip.parse().unwrap();
    for _ in 0..50 {
        let tcp = TcpListener::bind((ip, 0)).unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on {ip}");
}

/// A config file in a temporary directory that lives as long as this value.
pub struct ConfigFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// Binary tests run in parallel, and the default `metrics_addr`
/// (0.0.0.0:6880) would make all but one fail to bind; unless the test chose
/// an address, its tracker runs without the ops server. Appended at the end,
/// at the root block's indentation, so line numbers in errors do not move.
pub fn metrics_off_unless_set(yaml: &str) -> String {
    if yaml.contains("metrics_addr") {
        return yaml.to_string();
    }
    let sep = if yaml.ends_with('\n') { "" } else { "\n" };
    format!("{yaml}{sep}  metrics_addr: \"\"\n")
}

pub fn write_config(yaml: &str) -> ConfigFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chihaya.yaml");
    std::fs::write(&path, metrics_off_unless_set(yaml)).unwrap();
    ConfigFile { _dir: dir, path }
}

/// HTTP and UDP on one port of `ip`, short GC so it runs during tests.
pub fn both_frontends(ip: &str, port: u16) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!(
        "chihaya:\n  announce_interval: 30m\n  min_announce_interval: 15m\n  http:\n    addr: \"{host}:{port}\"\n  udp:\n    addr: \"{host}:{port}\"\n    private_key: \"test key\"\n  storage:\n    name: memory\n    config:\n      gc_interval: 1s\n"
    )
}

/// The running binary; killed when dropped, so a failing test leaves nothing behind.
pub struct Running {
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    _config: Option<ConfigFile>,
}

impl Running {
    /// Starts `chihaya` with these arguments (plus `-c FILE` when given a config).
    pub fn start(config: Option<ConfigFile>, args: &[&str]) -> Running {
        Running::start_with_env(config, args, None)
    }

    /// As [`Running::start`], with `RUST_LOG` set to `rust_log` (or unset).
    pub fn start_with_env(
        config: Option<ConfigFile>,
        args: &[&str],
        rust_log: Option<&str>,
    ) -> Running {
        let mut cmd = Command::new(BIN);
        if let Some(c) = &config {
            cmd.arg("-c").arg(&c.path);
        }
        match rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chihaya");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        // Drained continuously so the child never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Running {
            child: Some(child),
            stderr,
            _config: config,
        }
    }

    pub fn with_config(yaml: &str) -> Running {
        Running::start(Some(write_config(yaml)), &[])
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the log says `frontend` ("http" or "udp") listens on
    /// `addr`; panics with the log if it does not within [`STARTUP`] or the
    /// process exits first.
    pub fn wait_listening(&mut self, frontend: &str, addr: SocketAddr) {
        let needle = format!("frontend=\"{frontend}\" addr={addr}");
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if self
                .stderr()
                .lines()
                .any(|l| l.contains("listening") && l.contains(&needle))
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "chihaya exited with {status} before listening:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "chihaya not listening on {addr} after {STARTUP:?}:\n{}",
            self.stderr()
        );
    }

    /// Waits until a log line contains `text`; panics with the log if not within [`STARTUP`].
    pub fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if self.stderr().contains(text) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {text:?} in the log after {STARTUP:?}:\n{}",
            self.stderr()
        );
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    pub fn signal(&self, signal: i32) {
        // The `kill` utility sends it: no libc dependency just for tests.
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the exit, at most `limit`; kills it and returns `None` on timeout.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                // Let the reader thread take in the last lines.
                thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a short command of the binary (e.g. `check-config`) to completion, bounded.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_to_end(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + STARTUP;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chihaya {args:?} did not finish within {STARTUP:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/example_config.yaml")
}
