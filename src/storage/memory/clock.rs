//! Coarse time for peer entries.

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch, in 4 bytes instead of a 12- or 16-byte
/// `SystemTime`: a peer entry is mostly its address and peer id, and the
/// timestamp is the only part that exists just for garbage collection.
///
/// One-second resolution is far finer than any peer lifetime (minutes), and a
/// `u32` of seconds lasts until 2106. Times before the epoch clamp to 0 and
/// times past 2106 clamp to `u32::MAX`, so a broken clock can make peers look
/// old or new but never wraps around.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoarseTime(u32);

impl CoarseTime {
    /// Rounds down, so a garbage collection cutoff never reaches past a peer
    /// seen within the same second: a live peer is kept up to one second too
    /// long rather than dropped early.
    pub fn from_system(time: SystemTime) -> Self {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        CoarseTime(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// The time `secs` seconds after the epoch, as a snapshot stores it.
    pub fn from_secs(secs: u32) -> Self {
        CoarseTime(secs)
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rounds_down_and_clamps() {
        let t = UNIX_EPOCH + Duration::from_millis(10_900);
        assert_eq!(CoarseTime::from_system(t), CoarseTime(10));
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(CoarseTime::from_system(before_epoch), CoarseTime(0));
        let far = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) + 7);
        assert_eq!(CoarseTime::from_system(far), CoarseTime(u32::MAX));
    }
}
