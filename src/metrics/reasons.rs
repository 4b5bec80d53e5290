//! Error reasons as small numbers, so they can index the metric tables.
//!
//! Go chihaya labels its response histograms with the client-visible error
//! text. Those texts are a short, fixed list in practice, but a hook could in
//! principle put client input in one; so the table is bounded and anything
//! past it is counted as [`OTHER`] instead of growing the label space. A
//! reason costs one allocation the first time it is seen, never after.

use parking_lot::RwLock;

use crate::middleware::TrackerError;

/// An interned reason: an index into [`Reasons`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason(pub(super) u16);

/// No error: the empty label, as in Go chihaya.
pub const NONE: Reason = Reason(0);
/// Our fault; Go chihaya's label for it.
pub const INTERNAL: Reason = Reason(1);
/// Client reasons beyond the table's capacity.
pub const OTHER: Reason = Reason(2);
/// The storage backend failed (e.g. Redis unreachable).
pub const STORAGE: Reason = Reason(3);

/// How many distinct reasons are labelled, the fixed ones included.
pub const CAPACITY: usize = 64;

const FIXED: [&str; 4] = [
    "",
    "internal error",
    "other client error",
    "storage unavailable",
];

pub struct Reasons {
    names: RwLock<Vec<Box<str>>>,
}

impl Default for Reasons {
    fn default() -> Self {
        Reasons {
            names: RwLock::new(FIXED.iter().map(|&s| s.into()).collect()),
        }
    }
}

impl Reasons {
    /// The label of a failed request.
    pub fn of_error(&self, error: &TrackerError) -> Reason {
        match error {
            TrackerError::Client(e) => self.intern(&e.0),
            TrackerError::Internal(_) => INTERNAL,
            TrackerError::Storage(_) => STORAGE,
        }
    }

    /// The index of `text`, adding it while there is room.
    pub fn intern(&self, text: &str) -> Reason {
        if let Some(found) = find(&self.names.read(), text) {
            return found;
        }
        let mut names = self.names.write();
        // Another thread may have added it between the two locks.
        if let Some(found) = find(&names, text) {
            return found;
        }
        if names.len() >= CAPACITY {
            return OTHER;
        }
        names.push(text.into());
        Reason((names.len() - 1) as u16)
    }

    /// The text of each reason known so far, by index.
    pub fn names(&self) -> Vec<String> {
        self.names.read().iter().map(|s| s.to_string()).collect()
    }
}

fn find(names: &[Box<str>], text: &str) -> Option<Reason> {
    // Client reasons start after the fixed ones, so "" never matches NONE here.
    names
        .iter()
        .skip(FIXED.len())
        .position(|n| &**n == text)
        .map(|i| Reason((i + FIXED.len()) as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gets_the_same_index_and_the_table_is_bounded() {
        let reasons = Reasons::default();
        let a = reasons.intern("unapproved client");
        assert_eq!(
            a,
            Reason(FIXED.len() as u16),
            "the first after the fixed ones"
        );
        assert_eq!(reasons.intern("unapproved client"), a);
        assert_ne!(reasons.intern("invalid port"), a);
        for i in 0..CAPACITY {
            reasons.intern(&format!("reason {i}"));
        }
        assert_eq!(reasons.intern("one too many"), OTHER);
        assert_eq!(reasons.names().len(), CAPACITY);
        assert_eq!(reasons.names()[FIXED.len()], "unapproved client");
    }
}
