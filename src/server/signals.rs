//! SIGINT / SIGTERM → shutdown; SIGUSR1 / SIGHUP → reload.
//!
//! The first stop signal starts an orderly stop (in-flight requests are
//! answered); a second one means the operator will not wait, so the process
//! exits at once. A reload signal re-reads the configuration (see
//! `server::reload`).

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Installs the handlers now (so a signal that arrives during start-up is not
/// lost or fatal) and cancels `shutdown` on the first one.
///
/// Must be called inside a Tokio runtime.
pub fn cancel_on_signals(shutdown: CancellationToken) -> io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let (name, _) = next_signal(&mut terminate, &mut interrupt).await;
        info!(
            signal = name,
            "shutting down; send it again to exit immediately"
        );
        shutdown.cancel();
        let (name, number) = next_signal(&mut terminate, &mut interrupt).await;
        warn!(signal = name, "second signal: exiting now");
        // Shells report death by signal N as 128 + N; do the same.
        std::process::exit(128 + number);
    });
    Ok(())
}

async fn next_signal(
    terminate: &mut tokio::signal::unix::Signal,
    interrupt: &mut tokio::signal::unix::Signal,
) -> (&'static str, i32) {
    tokio::select! {
        _ = terminate.recv() => ("SIGTERM", 15),
        _ = interrupt.recv() => ("SIGINT", 2),
    }
}

/// SIGUSR1 and SIGHUP, as a stream of reload requests. Installed as soon as
/// it is created: from then on these signals no longer kill the process
/// (their default action), even before the first reload is awaited.
pub struct ReloadSignals {
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl ReloadSignals {
    /// Must be called inside a Tokio runtime.
    pub fn install() -> io::Result<ReloadSignals> {
        Ok(ReloadSignals {
            usr1: signal(SignalKind::user_defined1())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The name of the next reload signal. Signals that arrive while a
    /// reload runs are folded into one more reload, not queued one by one.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.usr1.recv() => "SIGUSR1",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
