//! The command line: `chihaya [--config FILE] [--debug] [--json]`,
//! `chihaya check-config FILE`, `chihaya e2e ...`.
//!
//! Everything here ends in an exit code rather than a panic: a bad config or
//! a taken port is an operator's everyday mistake and gets a one-line message.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{self, Config, ConfigError};
use crate::e2e::E2eArgs;
use crate::middleware::Chain;
use crate::server::{self, ConfigSource};

#[derive(Parser, Debug)]
#[command(
    name = "chihaya",
    version,
    about = "A BitTorrent tracker (HTTP and UDP)"
)]
pub struct Cli {
    /// YAML config file (Go chihaya's format); without it, HTTP and UDP
    /// listen on port 6969 with the built-in defaults.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log at debug level (RUST_LOG, if set, takes precedence).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Log as JSON lines, for log collectors.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a config file and print the configuration it amounts to.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Check a running tracker end to end over HTTP and UDP.
    E2e(E2eCommand),
}

/// Go chihaya's `e2e` flags and defaults.
#[derive(Args, Debug)]
pub struct E2eCommand {
    /// Announce URL of the HTTP frontend.
    #[arg(long = "httpaddr", default_value = "http://127.0.0.1:6969/announce")]
    pub http_addr: String,
    /// Address of the UDP frontend.
    #[arg(long = "udpaddr", default_value = "udp://127.0.0.1:6969")]
    pub udp_addr: String,
    /// Pause between steps (Go syntax: "1s", "500ms").
    #[arg(long, default_value = "1s", value_parser = config::duration::parse)]
    pub delay: Duration,
}

/// Parses the arguments, runs, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.debug, cli.json);
    match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::E2e(e2e)) => run_e2e(e2e),
        None => serve(cli.config.as_deref()),
    }
}

/// Logs go to stderr so that stdout carries only what a command prints
/// (`check-config`'s YAML); colours only when a person is watching.
fn init_logging(debug: bool, json: bool) {
    let level = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// The file parses and every hook accepts its options (checked without
/// building the hooks: nothing is spawned or fetched).
fn check_config(file: &Path) -> i32 {
    let checked = Config::load(file).and_then(|config| {
        Chain::validate(&config)
            .map(|()| config)
            .map_err(|e| ConfigError(format!("{}: {e}", file.display())))
    });
    match checked {
        Ok(config) => {
            print!("{}", config.to_yaml());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn run_e2e(cmd: E2eCommand) -> i32 {
    let args = E2eArgs {
        http_addr: cmd.http_addr,
        udp_addr: cmd.udp_addr,
        delay: cmd.delay,
    };
    match runtime() {
        Ok(rt) => rt.block_on(crate::e2e::run(&args)),
        Err(code) => code,
    }
}

/// Runs the tracker until SIGINT/SIGTERM (SIGUSR1/SIGHUP reload `config_file`);
/// 0 after a clean stop, 1 on any error.
fn serve(config_file: Option<&Path>) -> i32 {
    let source = match config_file {
        Some(file) => ConfigSource::File(file.to_path_buf()),
        None => ConfigSource::Embedded,
    };
    let config = match source.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let shutdown = CancellationToken::new();
        server::signals::cancel_on_signals(shutdown.clone())
            .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
        server::run(config, source, shutdown).await
    });
    // Nothing may keep the process alive after the server is done.
    rt.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            1
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn e2e_defaults_are_go_chihayas() {
        let cli = Cli::try_parse_from(["chihaya", "e2e"]).unwrap();
        let Some(Command::E2e(e2e)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(e2e.http_addr, "http://127.0.0.1:6969/announce");
        assert_eq!(e2e.udp_addr, "udp://127.0.0.1:6969");
        assert_eq!(e2e.delay, Duration::from_secs(1));
    }

    #[test]
    fn e2e_flags_and_bad_delay() {
        let cli = Cli::try_parse_from([
            "chihaya",
            "e2e",
            "--httpaddr",
            "http://[::1]:1/announce",
            "--udpaddr",
            "udp://[::1]:2",
            "--delay",
            "250ms",
        ])
        .unwrap();
        let Some(Command::E2e(e2e)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(e2e.http_addr, "http://[::1]:1/announce");
        assert_eq!(e2e.udp_addr, "udp://[::1]:2");
        assert_eq!(e2e.delay, Duration::from_millis(250));
        let err = Cli::try_parse_from(["chihaya", "e2e", "--delay", "soon"]).unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn config_flag_short_and_long_and_global_log_flags() {
        let cli = Cli::try_parse_from(["chihaya", "-c", "a.yaml", "--debug"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("a.yaml")));
        assert!(cli.debug && !cli.json && cli.command.is_none());
        let cli = Cli::try_parse_from(["chihaya", "--config", "b.yaml", "--json"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("b.yaml")));
        assert!(cli.json);
        let cli = Cli::try_parse_from(["chihaya", "check-config", "c.yaml", "--json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::CheckConfig { .. })));
    }
}
