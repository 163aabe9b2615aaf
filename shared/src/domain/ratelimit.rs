//! Rate limits: fixed windows per scope and key, the decision a counter
//! gives, and TikTok's documented per-token limits. The counter itself is
//! one conditional write (`adapters::store::rate`); our own limits live
//! beside the service that applies them.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A limit: at most `max` decisions per `window` for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Names the counter family; no `#`.
    pub scope: &'static str,
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn per_minute(scope: &'static str, max: u32) -> Self {
        Self {
            scope,
            max,
            window: Duration::from_secs(60),
        }
    }
}

/// TikTok's documented per-token limits (tiktok-api.md §3, §5), kept on our
/// side so we never provoke TikTok's 429. Keyed by account: an account has
/// one live access token at a time.
pub const TIKTOK_VIDEO_INIT: RateLimit = RateLimit::per_minute("tiktok-video-init", 6);
pub const TIKTOK_INBOX_INIT: RateLimit = RateLimit::per_minute("tiktok-inbox-init", 6);
pub const TIKTOK_CREATOR_INFO: RateLimit = RateLimit::per_minute("tiktok-creator-info", 20);
pub const TIKTOK_STATUS_FETCH: RateLimit = RateLimit::per_minute("tiktok-status-fetch", 30);
/// TikTok's pending inbox shares: at most 5 in any 24 hours (§3.9), held
/// here as 5 per UTC day per account.
pub const TIKTOK_INBOX_PENDING: RateLimit = RateLimit {
    scope: "tiktok-inbox-pending",
    max: 5,
    window: Duration::from_secs(86_400),
};
pub const TIKTOK_USER_INFO: RateLimit = RateLimit::per_minute("tiktok-user-info", 600);

/// The fixed window `now` falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub index: i64,
    pub ends_at: i64,
}

impl RateLimit {
    pub fn window(&self, now: DateTime<Utc>) -> Window {
        let size = self.window.as_secs().max(1) as i64;
        let index = now.timestamp().div_euclid(size);
        Window {
            index,
            ends_at: (index + 1) * size,
        }
    }

    /// Whole seconds until the window ends, at least 1: `Retry-After`.
    pub fn retry_after(&self, now: DateTime<Utc>) -> u64 {
        let remaining_ms = self.window(now).ends_at * 1000 - now.timestamp_millis();
        (remaining_ms.max(1) as u64).div_ceil(1000)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u32 },
    Denied { retry_after_seconds: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_are_fixed_and_roll_over() {
        let limit = RateLimit::per_minute("t", 5);
        let t = Utc.timestamp_opt(1_800_000_030, 0).unwrap();
        let w = limit.window(t);
        assert_eq!(w.ends_at, 1_800_000_060);
        assert_eq!(
            limit.window(t + chrono::Duration::seconds(29)).index,
            w.index
        );
        assert_eq!(
            limit.window(t + chrono::Duration::seconds(30)).index,
            w.index + 1
        );
    }

    #[test]
    fn retry_after_counts_the_seconds_left_rounding_up() {
        let limit = RateLimit::per_minute("t", 5);
        let t = Utc.timestamp_millis_opt(1_800_000_030_500).unwrap();
        assert_eq!(limit.retry_after(t), 30);
        let edge = Utc.timestamp_millis_opt(1_800_000_059_999).unwrap();
        assert_eq!(limit.retry_after(edge), 1);
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(limit.retry_after(start), 60);
    }
}
