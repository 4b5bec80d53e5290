//! SIGINT / SIGTERM → shutdown.
//!
//! The first signal starts an orderly stop (in-flight requests are answered);
//! a second one means the operator will not wait, so the process exits at once.

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
