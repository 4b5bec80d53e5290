//! Request rates over the last minute and an hour of history, sampled once a
//! second by the ops server's sampler.
//!
//! Counters only ever grow, so a rate is the difference between the newest
//! and the oldest sample in the window divided by the time between them: no
//! per-request work, and a missed tick only widens the step.

use std::collections::VecDeque;

use serde::Serialize;

/// Rates are averaged over this many seconds.
pub const RATE_WINDOW_SECS: f64 = 60.0;
/// One history point per this many seconds...
pub const RESOLUTION_SECS: f64 = 10.0;
/// ...and this many points: one hour.
pub const HISTORY_POINTS: usize = 360;

/// Cumulative request counts at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub announces: u64,
    pub scrapes: u64,
    pub errors: u64,
}

/// Per-second rates of [`Counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    pub announces_per_second: f64,
    pub scrapes_per_second: f64,
    pub errors_per_second: f64,
}

/// The swarm totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swarms {
    pub swarms: u64,
    pub seeders: u64,
    pub leechers: u64,
}

/// One point of the hour-long history.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Unix time, seconds.
    pub t: f64,
    #[serde(flatten)]
    pub rates: Rates,
    #[serde(flatten)]
    pub swarms: Swarms,
}

#[derive(Debug, Default)]
pub struct History {
    /// (time in seconds, counts), oldest first, spanning at most the rate window.
    window: VecDeque<(f64, Counts)>,
    points: VecDeque<Point>,
    last_point_at: Option<f64>,
}

impl History {
    /// Takes one sample at `now` (seconds on any steady clock; `unix` is the
    /// same moment as Unix time, for the history's timestamps).
    pub fn sample(&mut self, now: f64, unix: f64, counts: Counts, swarms: Swarms) {
        self.window.push_back((now, counts));
        while self
            .window
            .front()
            .is_some_and(|&(t, _)| now - t > RATE_WINDOW_SECS)
        {
            self.window.pop_front();
        }
        if self
            .last_point_at
            .is_none_or(|at| now - at >= RESOLUTION_SECS - 0.5)
        {
            self.last_point_at = Some(now);
            let rates = self.rates_over(RESOLUTION_SECS);
            if self.points.len() == HISTORY_POINTS {
                self.points.pop_front();
            }
            self.points.push_back(Point {
                t: unix,
                rates,
                swarms,
            });
        }
    }

    /// Rates over the whole window (up to a minute).
    pub fn rates(&self) -> Rates {
        self.rates_over(RATE_WINDOW_SECS)
    }

    /// The history, oldest first.
    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter()
    }

    /// Rates between the newest sample and the oldest one at most `span` older.
    fn rates_over(&self, span: f64) -> Rates {
        let Some(&(t1, newest)) = self.window.back() else {
            return Rates::default();
        };
        let Some(&(t0, oldest)) = self.window.iter().find(|&&(t, _)| t1 - t <= span) else {
            return Rates::default();
        };
        let elapsed = t1 - t0;
        if elapsed <= 0.0 {
            return Rates::default();
        }
        let per_second = |a: u64, b: u64| a.saturating_sub(b) as f64 / elapsed;
        Rates {
            announces_per_second: per_second(newest.announces, oldest.announces),
            scrapes_per_second: per_second(newest.scrapes, oldest.scrapes),
            errors_per_second: per_second(newest.errors, oldest.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(announces: u64) -> Counts {
        Counts {
            announces,
            scrapes: announces / 2,
            errors: 0,
        }
    }

    #[test]
    fn rates_cover_the_last_minute_only() {
        let mut h = History::default();
        // 100 announces a second for two minutes, then silence for 30 s.
        for s in 0..=120 {
            h.sample(f64::from(s), 0.0, counts(100 * s as u64), Swarms::default());
        }
        assert_eq!(h.rates().announces_per_second, 100.0);
        assert_eq!(h.rates().scrapes_per_second, 50.0);
        for s in 121..=150 {
            h.sample(f64::from(s), 0.0, counts(12_000), Swarms::default());
        }
        // Of the last 60 s, the first 30 saw 3,000 announces.
        assert_eq!(h.rates().announces_per_second, 50.0);
    }

    #[test]
    fn a_single_sample_has_no_rate() {
        let mut h = History::default();
        h.sample(5.0, 0.0, counts(1_000), Swarms::default());
        assert_eq!(h.rates(), Rates::default());
    }

    #[test]
    fn history_keeps_an_hour_at_ten_second_resolution() {
        let mut h = History::default();
        for s in 0..2 * 3600 {
            let swarms = Swarms {
                swarms: s,
                ..Swarms::default()
            };
            h.sample(s as f64, 1e9 + s as f64, counts(10 * s), swarms);
        }
        let points: Vec<&Point> = h.points().collect();
        assert_eq!(points.len(), HISTORY_POINTS);
        // The newest point is the last 10-second boundary; the oldest an hour before.
        assert_eq!(points.last().unwrap().swarms.swarms, 7190);
        assert_eq!(points[0].swarms.swarms, 7190 - 3590);
        assert_eq!(points[0].t, 1e9 + 3600.0);
        assert!(points.windows(2).all(|w| w[1].t - w[0].t == 10.0));
        assert_eq!(points.last().unwrap().rates.announces_per_second, 10.0);
    }
}
