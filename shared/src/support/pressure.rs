//! Back-pressure: how much work is let in at once. When the other side
//! refuses at a high rate (429, 5xx, timeouts), the limit is halved; for
//! every window of normal answers it grows back by one, up to a ceiling
//! (additive increase, multiplicative decrease). The refusal rate is a
//! moving average, so a steady trickle of refusals (one in ten) does not
//! throttle work that mostly succeeds, while an outage cuts the limit to one
//! within a few answers; and a burst of refusals to work let in before a
//! cut cuts again only after half a window.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// The weight of the newest answer in the refusal rate.
const SMOOTHING: f64 = 1.0 / 32.0;
/// The refusal rate above which a refusal cuts the limit.
const HIGH_RATE: f64 = 0.25;

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// Normal answers since the limit last grew.
    good_since_growth: usize,
    /// Answers of any kind since the limit was last cut.
    since_cut: usize,
    /// Moving average of refusals among answers (0 to 1).
    refusal_rate: f64,
}

/// A gate letting at most its current limit of work through at once.
#[derive(Debug)]
pub struct Pressure {
    state: Mutex<State>,
    ceiling: usize,
    changed: Notify,
}

/// One unit of work let in; leaving makes room for the next.
#[must_use = "the work is let in only while the permit is held"]
pub struct Permit<'a>(&'a Pressure);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.changed.notify_waiters();
    }
}

impl Pressure {
    /// A gate that lets `ceiling` (at least 1) through at first and at most.
    pub fn new(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            state: Mutex::new(State {
                limit: ceiling,
                in_flight: 0,
                good_since_growth: 0,
                since_cut: usize::MAX,
                refusal_rate: 0.0,
            }),
            ceiling,
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much work is let in at once now.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Waits until there is room, then lets one unit of work in.
    pub async fn enter(&self) -> Permit<'_> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Permit(self);
                }
            }
            changed.await;
        }
    }

    /// The other side answered normally: after a whole window of such
    /// answers, let one more in.
    pub fn answered(&self) {
        let grew = {
            let mut state = self.lock();
            state.refusal_rate -= state.refusal_rate * SMOOTHING;
            state.since_cut = state.since_cut.saturating_add(1);
            state.good_since_growth += 1;
            if state.good_since_growth >= state.limit && state.limit < self.ceiling {
                state.limit += 1;
                state.good_since_growth = 0;
                true
            } else {
                false
            }
        };
        if grew {
            self.changed.notify_waiters();
        }
    }

    /// The other side is overloaded or failing: when it refuses at a high
    /// rate, halve the limit, unless it was cut less than half a window of
    /// answers ago (those answers were to work let in before the cut).
    pub fn congested(&self) {
        let mut state = self.lock();
        state.refusal_rate += (1.0 - state.refusal_rate) * SMOOTHING;
        if state.refusal_rate >= HIGH_RATE && state.since_cut >= state.limit.div_ceil(2) {
            state.limit = (state.limit / 2).max(1);
            state.since_cut = 0;
            state.good_since_growth = 0;
        } else {
            state.since_cut = state.since_cut.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[test]
    fn refusals_at_a_high_rate_cut_by_half_and_answers_grow_by_one_per_window() {
        let gate = Pressure::new(32);
        assert_eq!(gate.limit(), 32);
        // A few refusals among answers are no reason to slow down.
        for _ in 0..9 {
            gate.congested();
        }
        assert_eq!(gate.limit(), 32);
        // Refusals in a row are: the limit is halved.
        gate.congested();
        assert_eq!(gate.limit(), 16);
        // The rest of the same burst cuts at most once per half window.
        for _ in 0..8 {
            gate.congested();
        }
        assert_eq!(gate.limit(), 16);
        gate.congested();
        assert_eq!(gate.limit(), 8);
        // An outage takes it down to one, never zero.
        for _ in 0..100 {
            gate.congested();
        }
        assert_eq!(gate.limit(), 1);
        // Normal answers: one more per window of answers.
        gate.answered();
        assert_eq!(gate.limit(), 2);
        gate.answered();
        assert_eq!(gate.limit(), 2);
        gate.answered();
        assert_eq!(gate.limit(), 3);
        for _ in 0..10_000 {
            gate.answered();
        }
        assert_eq!(gate.limit(), 32, "never above the ceiling");
    }

    #[test]
    fn a_steady_trickle_of_refusals_does_not_throttle_work_that_succeeds() {
        let gate = Pressure::new(32);
        let mut lowest = 32;
        // One answer in ten refused, for a long time.
        for i in 0..10_000 {
            if i % 10 == 9 {
                gate.congested();
            } else {
                gate.answered();
            }
            lowest = lowest.min(gate.limit());
        }
        assert_eq!(lowest, 32);
        // Half refused is a high rate: it comes down.
        for i in 0..200 {
            if i % 2 == 0 {
                gate.congested();
            } else {
                gate.answered();
            }
        }
        assert!(gate.limit() < 8, "{}", gate.limit());
    }

    #[tokio::test]
    async fn no_more_than_the_limit_is_in_at_once() {
        let gate = Arc::new(Pressure::new(8));
        for _ in 0..40 {
            gate.congested();
        }
        assert_eq!(gate.limit(), 1);
        gate.answered();
        gate.answered();
        gate.answered();
        assert_eq!(gate.limit(), 3);
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    let _permit = gate.enter().await;
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(gate.lock().in_flight, 0);
    }
}
