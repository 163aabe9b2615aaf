//! The time by which an invocation must be done: Lambda kills it there, so
//! no work is started that cannot finish before it.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

/// An invocation's deadline, or none (tests, tools).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadline(Option<DateTime<Utc>>);

impl Deadline {
    /// No deadline: everything fits.
    pub const NONE: Self = Self(None);

    pub fn at(time: DateTime<Utc>) -> Self {
        Self(Some(time))
    }

    /// Lambda's deadline, as its context gives it: milliseconds since the
    /// Unix epoch. Zero (a context without one) or a value that is no time
    /// at all means none. A value too small to be a time of this century is
    /// the function's timeout itself, which is what `cargo lambda watch`
    /// sends (600000 for its default ten minutes): that long from now.
    pub fn from_epoch_millis(millis: u64) -> Self {
        Self::from_epoch_millis_at(millis, Utc::now())
    }

    fn from_epoch_millis_at(millis: u64, now: DateTime<Utc>) -> Self {
        /// 2001-09-09: no deadline Lambda sends is earlier.
        const EARLIEST_EPOCH_MILLIS: i64 = 1_000_000_000_000;
        let Some(ms) = i64::try_from(millis).ok().filter(|ms| *ms > 0) else {
            return Self::NONE;
        };
        if ms < EARLIEST_EPOCH_MILLIS {
            return Self(now.checked_add_signed(chrono::Duration::milliseconds(ms)));
        }
        Self(Utc.timestamp_millis_opt(ms).single())
    }

    /// The earlier of the two.
    pub fn min(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (a, b) => Self(a.or(b)),
        }
    }

    /// Whether work that may take `needed` still fits at `now`.
    pub fn allows(&self, now: DateTime<Utc>, needed: Duration) -> bool {
        let Some(deadline) = self.0 else {
            return true;
        };
        chrono::Duration::from_std(needed).is_ok_and(|needed| now + needed <= deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_starts_only_if_it_fits() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let deadline = Deadline::at(now + chrono::Duration::seconds(30));
        assert!(deadline.allows(now, Duration::from_secs(30)));
        assert!(!deadline.allows(now, Duration::from_secs(31)));
        assert!(!deadline.allows(now + chrono::Duration::seconds(40), Duration::ZERO));
        assert!(Deadline::NONE.allows(now, Duration::from_secs(u64::MAX / 4)));
        assert!(!deadline.allows(now, Duration::from_secs(u64::MAX / 4)));
        assert_eq!(Deadline::from_epoch_millis(1_800_000_030_000), deadline);
        assert_eq!(Deadline::from_epoch_millis(u64::MAX), Deadline::NONE);
        assert_eq!(Deadline::from_epoch_millis(0), Deadline::NONE);
        // The local emulator sends the timeout itself: that long from now.
        assert_eq!(
            Deadline::from_epoch_millis_at(600_000, now),
            Deadline::at(now + chrono::Duration::minutes(10))
        );
        let sooner = Deadline::at(now);
        assert_eq!(deadline.min(sooner), sooner);
        assert_eq!(Deadline::NONE.min(sooner), sooner);
    }
}
