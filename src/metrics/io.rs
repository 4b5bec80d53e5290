//! Counting the HTTP frontend's bytes and open connections.
//!
//! Bytes are counted on the connection's byte stream, so they include
//! headers, TLS records and keep-alive traffic: what the network carries.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::labels::Frontend;
use super::requests::Requests;

/// A byte stream whose reads and writes are added to the frontend's totals.
pub struct Counted<IO> {
    inner: IO,
    requests: Arc<Requests>,
    frontend: Frontend,
}

impl<IO> Counted<IO> {
    pub fn new(inner: IO, requests: Arc<Requests>, frontend: Frontend) -> Self {
        Counted {
            inner,
            requests,
            frontend,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Counted<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.requests.add_bytes(self.frontend, read, 0);
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Counted<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.requests.add_bytes(self.frontend, 0, n as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts one open HTTP connection for as long as it lives, however it ends.
pub struct OpenConnection(Arc<Requests>);

impl OpenConnection {
    pub fn new(requests: Arc<Requests>) -> Self {
        requests.connection_opened();
        OpenConnection(requests)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}
