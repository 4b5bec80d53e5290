//! Read, write and idle deadlines for one HTTP connection, enforced on the
//! byte stream.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection
//! waits for its next request, which would make `idle_timeout` meaningless.
//! So the connection is watched from below instead, by what it is doing:
//!
//! - **idle** (just accepted, or a response fully flushed): the next request
//!   must start within `idle` (`read` for the first request, which counts from
//!   accept as in Go's `ReadTimeout`);
//! - **reading** (a request's first bytes arrived): the request must be read
//!   and answered within `read + write`;
//! - **writing** (the response started): every write must make progress within
//!   `write`, so a client that stops reading cannot hold the connection.
//!
//! A missed deadline is an I/O error, which makes hyper close the connection.
//!
//! The phase changes three times per request, and moving a tokio timer to an
//! earlier instant takes the timer driver's lock. So the deadline is a plain
//! `Instant`, and the one timer is only ever armed at it or before it: a
//! later deadline leaves the timer alone (when it fires early it is re-armed
//! at the deadline then in force), and only a deadline earlier than the timer
//! moves it. A busy keep-alive connection so touches its timer a couple of
//! times per timeout period rather than on every request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub read: Duration,
    pub write: Duration,
    pub idle: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Reading,
    Writing,
}

/// A stream whose reads and writes fail once the deadline of its phase passes.
pub struct Deadlines<IO> {
    io: IO,
    timeouts: Timeouts,
    phase: Phase,
    /// When the current phase's time is up.
    deadline: Instant,
    /// Armed at `deadline` or before it, never after.
    timer: Pin<Box<Sleep>>,
}

impl<IO> Deadlines<IO> {
    pub fn new(io: IO, timeouts: Timeouts) -> Self {
        let deadline = Instant::now() + timeouts.read;
        Deadlines {
            io,
            timeouts,
            phase: Phase::Idle,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    fn enter(&mut self, phase: Phase, allowed: Duration) {
        self.phase = phase;
        self.deadline = Instant::now() + allowed;
        if self.deadline < self.timer.deadline() {
            self.timer.as_mut().reset(self.deadline);
        }
    }

    /// Turns a pending operation into an error once the deadline has passed
    /// (polling the timer also arranges the wake-up for it).
    fn pending_or_expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.timer.deadline() >= self.deadline {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection deadline passed while {:?}", self.phase),
                )));
            }
            // Fired early: the deadline moved on since the timer was armed.
            self.timer.as_mut().reset(self.deadline);
        }
        Poll::Pending
    }

    fn start_writing(&mut self) {
        if self.phase != Phase::Writing {
            self.enter(Phase::Writing, self.timeouts.write);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Deadlines<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    let t = this.timeouts;
                    this.enter(Phase::Reading, t.read + t.write);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.pending_or_expired(cx),
            ready => ready,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Deadlines<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.start_writing();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.pending_or_expired(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.start_writing();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.pending_or_expired(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// A completed flush after writing ends the response: the connection is idle.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Writing {
                    this.enter(Phase::Idle, this.timeouts.idle);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.pending_or_expired(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_shutdown(cx) {
            Poll::Pending => this.pending_or_expired(cx),
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    const T: Timeouts = Timeouts {
        read: Duration::from_millis(100),
        write: Duration::from_millis(150),
        idle: Duration::from_millis(300),
    };

    /// Real time (tokio's paused clock needs a feature the crate does not
    /// enable), so allow for a slow, shared machine on the upper side.
    fn assert_took(start: Instant, expected: Duration) {
        let took = start.elapsed();
        assert!(
            took >= expected && took < expected + Duration::from_secs(2),
            "took {took:?}, expected {expected:?}"
        );
    }

    #[tokio::test]
    async fn first_request_must_arrive_within_read_timeout() {
        let (_client, server) = duplex(64);
        let mut s = Deadlines::new(server, T);
        let start = Instant::now();
        let err = s.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_took(start, T.read);
    }

    #[tokio::test]
    async fn after_a_response_the_idle_timeout_applies() {
        let (mut client, server) = duplex(64);
        let mut s = Deadlines::new(server, T);
        client.write_all(b"GET").await.unwrap();
        s.read_exact(&mut [0; 3]).await.unwrap();
        s.write_all(b"reply").await.unwrap();
        s.flush().await.unwrap();
        let start = Instant::now();
        let err = s.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_took(start, T.idle);
    }

    #[tokio::test]
    async fn a_stalled_write_times_out() {
        let (_client, server) = duplex(4);
        let mut s = Deadlines::new(server, T);
        let start = Instant::now();
        let err = s.write_all(b"more than four bytes").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_took(start, T.write);
    }

    /// The timer armed for the first request fires while later requests are
    /// served; it must be re-armed at the deadline then in force, not end the
    /// connection.
    #[tokio::test]
    async fn a_busy_connection_outlives_its_first_deadline() {
        let (mut client, server) = duplex(64);
        let mut s = Deadlines::new(server, T);
        let start = Instant::now();
        while start.elapsed() < T.read * 3 {
            // The server waits (idle) while the client takes a while to ask.
            let mut request = [0; 3];
            let (read, ()) = tokio::join!(s.read_exact(&mut request), async {
                tokio::time::sleep(T.read / 4).await;
                client.write_all(b"GET").await.unwrap();
            });
            read.unwrap();
            s.write_all(b"reply").await.unwrap();
            s.flush().await.unwrap();
            client.read_exact(&mut [0; 5]).await.unwrap();
        }
    }
}
