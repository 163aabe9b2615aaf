//! How long a refresh may take at worst, step by step. A sweep leases an
//! account only when the whole worst case fits before its deadline; a
//! forced refresh starts when the least fits and makes only the further
//! attempts that fit; a lease must outlive the whole. A refresh killed after
//! TikTok rotated the token, but before the rotated token was stored, would
//! lose the account's only grant: so nothing is started that cannot finish.

use std::time::Duration;

use super::RefreshSettings;
use crate::support::backoff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshBudget {
    /// One DynamoDB or KMS call, SDK retries included.
    operation: Duration,
    /// One call to TikTok's token endpoint.
    tiktok: Duration,
    tiktok_attempts: u32,
    store_attempts: u32,
    backoff: Duration,
}

impl RefreshBudget {
    pub fn new(settings: &RefreshSettings, tiktok_timeout: Duration, operation: Duration) -> Self {
        Self {
            operation,
            tiktok: tiktok_timeout,
            tiktok_attempts: settings.tiktok_attempts,
            store_attempts: settings.store_attempts,
            backoff: settings.backoff,
        }
    }

    /// The wait before retry `attempt` (from 1: none) at its longest.
    fn backoff_before(&self, attempt: u32) -> Duration {
        if attempt > 1 {
            backoff::ceiling(self.backoff, attempt - 1)
        } else {
            Duration::ZERO
        }
    }

    /// One attempt at storing a rotated grant: seal, compare-and-swap, and
    /// the re-read after a lost one.
    fn store(&self) -> Duration {
        self.operation * 3
    }

    /// What starting TikTok attempt `attempt` needs: its backoff, the call,
    /// and one attempt at storing what it returns.
    pub fn tiktok_attempt(&self, attempt: u32) -> Duration {
        self.backoff_before(attempt) + self.tiktok + self.store()
    }

    /// What starting store attempt `attempt` needs.
    pub fn store_attempt(&self, attempt: u32) -> Duration {
        self.backoff_before(attempt) + self.store()
    }

    /// Every step failing as slowly as it can: the lease, opening the
    /// tokens, every TikTok attempt and every store attempt with their
    /// backoffs. A sweep leases only when this fits; a lease outlives it.
    pub fn whole(&self) -> Duration {
        let tiktok: Duration = (1..=self.tiktok_attempts)
            .map(|n| self.backoff_before(n) + self.tiktok)
            .sum();
        let store: Duration = (1..=self.store_attempts)
            .map(|n| self.store_attempt(n))
            .sum();
        self.operation * 2 + tiktok + store
    }

    /// The least a refresh needs to be worth starting: the lease, opening
    /// the tokens, one TikTok attempt and one store attempt.
    pub fn least(&self) -> Duration {
        self.operation * 2 + self.tiktok_attempt(1)
    }

    /// What cleanup needs per account: the lease and the flag.
    pub fn cleanup(&self) -> Duration {
        self.operation * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(tiktok_s: u64, operation_s: u64, attempts: u32) -> RefreshBudget {
        let settings = RefreshSettings {
            tiktok_attempts: attempts,
            backoff: Duration::from_millis(250),
            ..RefreshSettings::default()
        };
        RefreshBudget::new(
            &settings,
            Duration::from_secs(tiktok_s),
            Duration::from_secs(operation_s),
        )
    }

    #[test]
    fn the_worst_case_adds_every_step_and_backoff() {
        let ms = Duration::from_millis;
        // The defaults: TikTok 10 s, AWS 2 s, 3 TikTok and 5 store attempts.
        let b = budget(10, 2, 3);
        // lease + open 4 s; TikTok 30 s + 0.25 + 0.5 s; store 5 x 6 s
        // + 0.25 + 0.5 + 1 + 2 s.
        assert_eq!(b.whole(), ms(4_000 + 30_750 + 33_750));
        assert_eq!(b.least(), ms(4_000 + 10_000 + 6_000));
        assert_eq!(b.tiktok_attempt(1), ms(16_000));
        assert_eq!(b.tiktok_attempt(3), ms(16_500));
        assert_eq!(b.store_attempt(1), ms(6_000));
        assert_eq!(b.store_attempt(5), ms(8_000));
        assert_eq!(b.cleanup(), ms(4_000));
        // One attempt: the whole is the least plus the store retries.
        let one = budget(10, 2, 1);
        assert_eq!(one.whole(), one.least() + ms(4 * 6_000 + 3_750));
        // Backoff is capped, so long retries stay bounded.
        assert!(budget(60, 30, 5).whole() < Duration::from_secs(900));
    }
}
