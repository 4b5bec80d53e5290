//! End-to-end check of a running tracker (`chihaya e2e`).
//!
//! This build carries only the agreed interface; the check itself is built
//! in its own branch and replaces this file.

use std::time::Duration;

/// What `chihaya e2e` was asked to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eArgs {
    /// Announce URL of the HTTP frontend, e.g. `http://127.0.0.1:6969/announce`.
    pub http_addr: String,
    /// Address of the UDP frontend, e.g. `udp://127.0.0.1:6969`.
    pub udp_addr: String,
    /// Pause between the steps of the check.
    pub delay: Duration,
}

/// Runs the check; the process exit code is the result.
pub async fn run(args: &E2eArgs) -> i32 {
    eprintln!(
        "e2e: not built into this binary (asked to check {} and {})",
        args.http_addr, args.udp_addr
    );
    2
}
