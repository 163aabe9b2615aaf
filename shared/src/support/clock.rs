//! The time, injected: services read `now` from a [`Clock`] built at cold
//! start, so a test or a simulation can hold time still or move it.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Duration, Utc};

/// Where the time comes from. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system's wall clock: what every function runs on.
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock the returned [`ManualTime`] sets and advances.
    pub fn manual(start: DateTime<Utc>) -> (Self, ManualTime) {
        let time = ManualTime(Arc::new(Mutex::new(start)));
        let read = time.clone();
        (Self(Arc::new(move || read.now())), time)
    }

    /// A clock that reads the time from `now`: a simulation's virtual
    /// time, for example.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The hand on a manual [`Clock`].
#[derive(Clone, Debug)]
pub struct ManualTime(Arc<Mutex<DateTime<Utc>>>);

impl ManualTime {
    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (clock, hand) = Clock::manual(start);
        assert_eq!(clock.now(), start);
        hand.advance(Duration::minutes(30));
        assert_eq!(clock.clone().now(), start + Duration::minutes(30));
        hand.set(start);
        assert_eq!(clock.now(), start);
        let system = Clock::system().now();
        assert!((Utc::now() - system).num_seconds().abs() < 5);
    }
}
