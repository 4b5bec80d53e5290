//! Frontends own sockets and wire formats, nothing else: bytes in, a
//! protocol request to the [`crate::middleware::Tracker`], bytes out.

pub mod http;
pub mod udp;
