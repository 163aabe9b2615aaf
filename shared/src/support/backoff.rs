//! Exponential backoff with jitter, for every retry loop of ours.

use std::time::Duration;

/// The longest any one backoff waits.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The wait before retry number `attempt` (1 for the first retry): half the
/// doubled delay, plus a random share of the other half, capped at
/// [`MAX_BACKOFF`].
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let half = ceiling(base, attempt) / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// The most [`backoff`] can wait before retry number `attempt`: what a
/// worst-case bound adds up.
pub fn ceiling(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let d = backoff(base, attempt);
            let full = base * (1 << (attempt - 1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            assert_eq!(ceiling(base, attempt), full);
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
        assert_eq!(ceiling(base, 40), MAX_BACKOFF);
    }
}
