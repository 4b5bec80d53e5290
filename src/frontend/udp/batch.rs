//! Datagrams in and out by the batch: one `recvmmsg` reads every datagram
//! waiting (up to [`BATCH`]), one `sendmmsg` sends every reply of the batch.
//!
//! A system call costs about as much as the tracker's own work on a request,
//! so a loaded server pays it once per batch instead of twice per datagram.
//! On a quiet one a batch is a single datagram and nothing is lost.
//!
//! All buffers are allocated once per socket and reused for every batch.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage};

use crate::protocol::udp;

/// The most datagrams one system call reads or writes.
pub const BATCH: usize = 64;
/// The largest datagram taken whole. Every BEP 15 request fits one
/// Ethernet frame, and the longest that matters, a scrape of as many hashes
/// as one reply answers, takes 2,416 bytes; a longer datagram arrives cut
/// to this length and flagged (see [`Batch::truncated`]).
pub const DATAGRAM_BYTES: usize = 4096;
const _: () = assert!(DATAGRAM_BYTES >= udp::HEADER_LEN + 20 * udp::MAX_SCRAPE_REPLY_HASHES);
/// Receive buffers lie this far apart: densely, so a batch touches few
/// pages, and not at a multiple of 4 KiB, so the first bytes of each (all a
/// request reads) do not all compete for the same cache sets.
const STRIDE: usize = DATAGRAM_BYTES + 64;

/// One socket's receive buffers and the kernel's message headers.
pub struct Batch {
    /// `BATCH` buffers of `DATAGRAM_BYTES`, `STRIDE` apart.
    buffers: Vec<u8>,
    lens: [usize; BATCH],
    /// Longer than `DATAGRAM_BYTES`: only its start arrived.
    truncated: [bool; BATCH],
    from: [Option<SockaddrStorage>; BATCH],
    received: usize,
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    /// The destinations of one `send`, packed in reply order.
    to: [Option<SockaddrStorage>; BATCH],
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            buffers: vec![0; BATCH * STRIDE],
            lens: [0; BATCH],
            truncated: [false; BATCH],
            from: [None; BATCH],
            received: 0,
            recv_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            to: [None; BATCH],
        }
    }
}

impl Batch {
    /// Blocks until at least one datagram is there (or the socket's read
    /// timeout passes: `WouldBlock`), then takes every datagram waiting, up
    /// to [`BATCH`]. Returns how many; [`Batch::datagram`] reads them.
    pub fn recv(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        self.received = 0;
        let mut chunks = self.buffers.chunks_exact_mut(STRIDE);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] = std::array::from_fn(|_| {
            let chunk = chunks.next().expect("BATCH buffers");
            [IoSliceMut::new(&mut chunk[..DATAGRAM_BYTES])]
        });
        // MSG_WAITFORONE: block for the first datagram only, then take what
        // is already queued. (nix leaves each header's address length as the
        // kernel last set it; a socket's peers are all of its own family, so
        // that length never needs to grow back.)
        let got = nix::sys::socket::recvmmsg(
            socket.as_raw_fd(),
            &mut self.recv_headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        let mut n = 0;
        for (i, msg) in got.enumerate() {
            self.lens[i] = msg.bytes.min(DATAGRAM_BYTES);
            self.truncated[i] = msg.flags.contains(MsgFlags::MSG_TRUNC);
            self.from[i] = msg.address;
            n = i + 1;
        }
        self.received = n;
        Ok(n)
    }

    /// The `i`th datagram of the last [`Batch::recv`] and who sent it (`None`
    /// if the kernel gave no address of a family we speak).
    pub fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        assert!(i < self.received, "datagram {i} of {}", self.received);
        let start = i * STRIDE;
        let packet = &self.buffers[start..start + self.lens[i]];
        (packet, self.from[i].as_ref().and_then(socket_addr))
    }

    /// Whether the `i`th datagram was longer than [`DATAGRAM_BYTES`] (and
    /// [`Batch::datagram`] has only its start).
    pub fn truncated(&self, i: usize) -> bool {
        self.truncated[i]
    }

    /// Sends `replies` (at most [`BATCH`]): each `(i, bytes)` goes back to
    /// the sender of datagram `i` of the last [`Batch::recv`]. A reply the
    /// kernel refuses is skipped (and logged at debug) so one bad address
    /// cannot hold up the others. Returns how many were sent.
    pub fn send<'r>(
        &mut self,
        socket: &UdpSocket,
        replies: impl IntoIterator<Item = (usize, &'r [u8])>,
    ) -> usize {
        let empty: &[u8] = &[];
        let mut iovs: [[IoSlice<'_>; 1]; BATCH] = [[IoSlice::new(empty)]; BATCH];
        let mut count = 0;
        // While reply k answers datagram k (every datagram answered, the
        // usual case), the senders' addresses are passed as they arrived;
        // only from the first gap on are they packed into `to` (each is a
        // 128-byte `SockaddrStorage`: copying every one was ~1% of our
        // time under bench/udp_load).
        let mut packed = false;
        for (i, bytes) in replies.into_iter().take(BATCH) {
            iovs[count] = [IoSlice::new(bytes)];
            if i != count && !packed {
                self.to[..count].copy_from_slice(&self.from[..count]);
                packed = true;
            }
            if packed {
                self.to[count] = self.from[i];
            }
            count += 1;
        }
        let to = if packed { &self.to } else { &self.from };
        let mut done = 0;
        let mut sent = 0;
        while done < count {
            match nix::sys::socket::sendmmsg(
                socket.as_raw_fd(),
                &mut self.send_headers,
                iovs[done..count].iter(),
                &to[done..count],
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let n = results.count();
                    sent += n;
                    // n == 0 cannot happen for a non-empty batch; never spin.
                    done += n.max(1);
                }
                Err(e) => {
                    let to = to[done].as_ref().and_then(socket_addr);
                    tracing::debug!(?to, "udp: send failed: {e}");
                    done += 1;
                }
            }
        }
        sent
    }
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pair(bind: &str) -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind(bind).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let client = UdpSocket::bind(bind).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        (server, client)
    }

    /// Everything queued comes in one call, in order, with its sender; the
    /// replies go back to each sender in one call.
    #[test]
    fn a_batch_in_and_out() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (server, client) = pair(bind);
            let other = UdpSocket::bind(bind).unwrap();
            other
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let to = server.local_addr().unwrap();
            client.send(b"one").unwrap();
            other.send_to(b"two!", to).unwrap();
            client.send(&[7u8; 1400]).unwrap();
            // Loopback delivers synchronously, so all three are queued.
            let mut batch = Batch::default();
            assert_eq!(batch.recv(&server).unwrap(), 3, "{bind}");
            let expect = [
                (&b"one"[..], client.local_addr().unwrap()),
                (&b"two!"[..], other.local_addr().unwrap()),
                (&[7u8; 1400][..], client.local_addr().unwrap()),
            ];
            for (i, (bytes, from)) in expect.iter().enumerate() {
                assert_eq!(batch.datagram(i), (*bytes, Some(*from)), "{bind} #{i}");
            }
            let sent = batch.send(&server, [(0, &b"re:one"[..]), (1, &b"re:two"[..])]);
            assert_eq!(sent, 2);
            let mut buf = [0u8; 64];
            assert_eq!(client.recv(&mut buf).unwrap(), 6);
            assert_eq!(&buf[..6], b"re:one");
            assert_eq!(other.recv(&mut buf).unwrap(), 6);
            assert_eq!(&buf[..6], b"re:two");
        }
    }

    /// Datagrams left unanswered: each reply still reaches the sender of
    /// the datagram it answers, whether the gap is first, in the middle or
    /// last.
    #[test]
    fn replies_with_gaps_go_to_their_senders() {
        let (server, _) = pair("127.0.0.1:0");
        let to = server.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..4)
            .map(|_| {
                let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c
            })
            .collect();
        let mut batch = Batch::default();
        for answered in [[1, 3], [0, 2], [0, 3], [2, 3]] {
            for (i, c) in clients.iter().enumerate() {
                c.send_to(&[i as u8], to).unwrap();
            }
            assert_eq!(batch.recv(&server).unwrap(), 4);
            let replies: Vec<[u8; 2]> = answered.iter().map(|&i| [b'r', i as u8]).collect();
            let sent = batch.send(
                &server,
                answered.iter().zip(&replies).map(|(&i, r)| (i, &r[..])),
            );
            assert_eq!(sent, 2, "{answered:?}");
            for &i in &answered {
                let mut buf = [0u8; 8];
                let n = clients[i].recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], [b'r', i as u8], "{answered:?}");
            }
        }
        for c in &clients {
            c.set_nonblocking(true).unwrap();
            assert!(
                c.recv(&mut [0u8; 8]).is_err(),
                "an unanswered sender got a reply"
            );
        }
    }

    /// More than a batch waiting: the first call takes BATCH, the next the rest.
    #[test]
    fn at_most_a_batch_per_call() {
        let (server, client) = pair("127.0.0.1:0");
        for i in 0..BATCH + 3 {
            client.send(&(i as u32).to_be_bytes()).unwrap();
        }
        let mut batch = Batch::default();
        assert_eq!(batch.recv(&server).unwrap(), BATCH);
        assert_eq!(
            batch.datagram(BATCH - 1).0,
            ((BATCH - 1) as u32).to_be_bytes()
        );
        assert_eq!(batch.recv(&server).unwrap(), 3);
        assert_eq!(batch.datagram(2).0, ((BATCH + 2) as u32).to_be_bytes());
    }

    /// A datagram of DATAGRAM_BYTES arrives whole; a longer one (up to the
    /// largest UDP carries) is flagged and cut, and the next one is unharmed.
    #[test]
    fn longer_datagrams_are_flagged() {
        let (server, client) = pair("127.0.0.1:0");
        let fits = vec![0xabu8; DATAGRAM_BYTES];
        client.send(&fits).unwrap();
        client.send(&[0xcd; DATAGRAM_BYTES + 1]).unwrap();
        client.send(&vec![0xef; 65_507]).unwrap();
        client.send(b"after").unwrap();
        let mut batch = Batch::default();
        assert_eq!(batch.recv(&server).unwrap(), 4);
        assert_eq!(batch.datagram(0).0, &fits[..]);
        assert!(!batch.truncated(0));
        assert_eq!(batch.datagram(1).0, &[0xcd; DATAGRAM_BYTES][..]);
        assert_eq!(batch.datagram(2).0, &[0xef; DATAGRAM_BYTES][..]);
        assert!(batch.truncated(1) && batch.truncated(2));
        assert_eq!(batch.datagram(3).0, b"after");
        assert!(!batch.truncated(3));
    }

    /// With nothing to read, the socket's read timeout ends the wait.
    #[test]
    fn an_empty_socket_times_out() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = Batch::default().recv(&server).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    }
}
