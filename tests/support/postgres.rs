//! A throwaway PostgreSQL cluster for the private tracking tests.
//!
//! Debian's own binaries (`/usr/lib/postgresql/VERSION/bin`: initdb, pg_ctl,
//! createdb), a fresh cluster in a temporary directory, listening on
//! 127.0.0.1 at a port picked here (no Unix socket in a shared place), trust
//! authentication for the user `chihaya`. It can be stopped and started again
//! on the same port with its data (an outage), and is stopped on drop.
//!
//! initdb refuses to run as root: as root, every command runs as the
//! `postgres` user (`runuser -u postgres --`) in a directory it owns.
//! A missing PostgreSQL is a failure, not a skip: `scripts/setup` installs it.

#![allow(dead_code)] // each test file uses a different part of this

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The user the cluster is made for (trust auth: no password).
pub const USER: &str = "chihaya";

pub struct PostgresServer {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `postgres`'s uid and gid when we run as root (initdb refuses root).
    run_as: Option<(u32, u32)>,
    running: bool,
}

/// The newest `/usr/lib/postgresql/*/bin` with an initdb.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "no /usr/lib/postgresql/*/bin/initdb: run `bash scripts/setup` to install postgresql",
    )
}

fn uid_gid_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().unwrap();
        assert!(
            out.status.success(),
            "no user {user}: is postgresql installed?"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl PostgresServer {
    /// A new cluster, started.
    pub fn new() -> PostgresServer {
        let am_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let run_as = am_root.then(|| uid_gid_of("postgres"));
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut server = PostgresServer {
            port: free_port(),
            dir,
            bin: bin_dir(),
            run_as,
            running: false,
        };
        // No fsync: a test cluster needs no durability, and it is much faster.
        server.run(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--locale=C",
            ],
        );
        std::fs::create_dir_all(server.socket_dir()).unwrap();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(server.socket_dir(), Some(uid), Some(gid)).unwrap();
        }
        server.start();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs one of the cluster's binaries (as `postgres` when root); panics
    /// with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out
    }

    /// Starts the server (again, on the same port, with its data) and waits
    /// until it accepts connections.
    pub fn start(&mut self) {
        assert!(!self.running, "postgres already running");
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c shared_buffers=16MB -c max_connections=40",
            self.port,
            self.socket_dir().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.log_file().display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stops the server (fast mode: connections are cut, as in an outage)
    /// and waits until it is gone.
    pub fn stop(&mut self) {
        self.stop_mode("fast");
    }

    fn stop_mode(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        self.running = false;
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
        );
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The URL of database `db` on this server.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of the default database (`postgres`).
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A new empty database, named uniquely within this server; its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", USER, &name])
            .stdin(Stdio::null())
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url_for(&name)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            self.running = false;
            let data = self.data().display().to_string();
            // Immediate: nothing to keep, and a drop during a panic must not hang.
            let path = self.bin.join("pg_ctl");
            let args = ["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"];
            let _ = match self.run_as {
                Some(_) => Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&path)
                    .args(args)
                    .stdin(Stdio::null())
                    .output(),
                None => Command::new(&path).args(args).stdin(Stdio::null()).output(),
            };
        }
    }
}
