//! The label values of the request metrics, as closed enums.
//!
//! Each value indexes a pre-built table, so recording a request never builds a
//! label string or looks up a map; the strings (Go chihaya's, so existing
//! dashboards keep working) are only written out when `/metrics` is scraped.

use std::net::IpAddr;

use crate::protocol::canonical_ip;

/// Which frontend answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frontend {
    Http,
    Udp,
}

impl Frontend {
    pub const ALL: [Frontend; 2] = [Frontend::Http, Frontend::Udp];

    pub fn as_str(self) -> &'static str {
        match self {
            Frontend::Http => "http",
            Frontend::Udp => "udp",
        }
    }
}

/// What the client asked for (`connect` exists only over UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Announce,
    Scrape,
    Connect,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Announce, Action::Scrape, Action::Connect];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Announce => "announce",
            Action::Scrape => "scrape",
            Action::Connect => "connect",
        }
    }
}

/// The client's address family, spelled as Go chihaya spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    /// The address could not be determined (e.g. a bad proxy header).
    Unknown,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::V4, Family::V6, Family::Unknown];

    /// IPv4-mapped IPv6 counts as IPv4, as everywhere else in the tracker.
    pub fn of(ip: IpAddr) -> Self {
        match canonical_ip(ip) {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
            Family::Unknown => "Unknown",
        }
    }
}

/// How a request ended, for `chihaya_requests_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    ClientError,
    InternalError,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::ClientError, Outcome::InternalError];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::InternalError => "internal_error",
        }
    }
}
