//! The publisher's tunables: defaults, bounds and what each is for.

use std::time::Duration;

use crate::env::{ConfigError, Env};

#[derive(Clone, Debug)]
pub struct PublishSettings {
    /// How long a worker owns an upload. Longer than Lambda's longest
    /// invocation (15 minutes), so a live worker never loses it
    /// (`PUBLISH_LEASE_SECONDS`, 901-3600).
    pub lease: Duration,
    /// Attempts per chunk on 5xx or network failure
    /// (`PUBLISH_CHUNK_ATTEMPTS`, 1-10).
    pub chunk_attempts: u32,
    /// First backoff between chunk attempts; doubles, with jitter
    /// (`PUBLISH_BACKOFF_MS`, 1-10000).
    pub backoff: Duration,
    /// Deferrals before the upload is failed (`PUBLISH_MAX_ATTEMPTS`,
    /// 1-1000).
    pub max_attempts: u32,
    /// The longest a deferral waits; SQS allows 15 minutes
    /// (`PUBLISH_MAX_DEFER_SECONDS`, 0-900).
    pub max_defer: Duration,
    /// Wait before asking TikTok's status when no webhook came
    /// (`PUBLISH_STATUS_CHECK_SECONDS`, 0-900).
    pub status_check_delay: Duration,
    /// Status checks before we stop asking (`PUBLISH_MAX_STATUS_CHECKS`,
    /// 0-1000).
    pub max_status_checks: u32,
    /// The longest one chunk may take to send (`PUBLISH_CHUNK_SECONDS`,
    /// 1-900): no chunk is started with less time left before the
    /// invocation's deadline; the transfer goes on in the next one.
    pub chunk_time: Duration,
    /// Receives of a message before SQS moves it to the dead-letter queue
    /// (`PUBLISH_MAX_RECEIVES`, 1-100; the template's `maxReceiveCount`): on
    /// the last, a message that still fails fails its upload with the
    /// reason, instead of leaving it `publishing`.
    pub max_receives: u32,
    /// Posts per account per UTC day, ours on top of TikTok's own cap
    /// (`POSTS_DAILY_CAP`, 1-1000, default 15, TikTok's typical cap): a
    /// post past it waits for the next day.
    pub daily_cap: u32,
    /// The longest video sent when TikTok's creator info states no maximum
    /// (inbox uploads, which cannot ask it): TikTok's general limit
    /// (`PUBLISH_MAX_VIDEO_SECONDS`, 1-3600, default 600).
    pub max_video_seconds: u32,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(960),
            chunk_attempts: 5,
            backoff: Duration::from_millis(500),
            max_attempts: 24,
            max_defer: Duration::from_secs(900),
            status_check_delay: Duration::from_secs(900),
            max_status_checks: 96,
            chunk_time: Duration::from_secs(120),
            max_receives: 5,
            daily_cap: 15,
            max_video_seconds: 600,
        }
    }
}

impl PublishSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            lease: env.seconds(
                "PUBLISH_LEASE_SECONDS",
                defaults.lease.as_secs(),
                (901, 3600),
            )?,
            chunk_attempts: env.number(
                "PUBLISH_CHUNK_ATTEMPTS",
                u64::from(defaults.chunk_attempts),
                (1, 10),
            )? as u32,
            backoff: env.millis(
                "PUBLISH_BACKOFF_MS",
                defaults.backoff.as_millis() as u64,
                (1, 10_000),
            )?,
            max_attempts: env.number(
                "PUBLISH_MAX_ATTEMPTS",
                u64::from(defaults.max_attempts),
                (1, 1000),
            )? as u32,
            max_defer: env.seconds(
                "PUBLISH_MAX_DEFER_SECONDS",
                defaults.max_defer.as_secs(),
                (0, 900),
            )?,
            status_check_delay: env.seconds(
                "PUBLISH_STATUS_CHECK_SECONDS",
                defaults.status_check_delay.as_secs(),
                (0, 900),
            )?,
            max_status_checks: env.number(
                "PUBLISH_MAX_STATUS_CHECKS",
                u64::from(defaults.max_status_checks),
                (0, 1000),
            )? as u32,
            chunk_time: env.seconds(
                "PUBLISH_CHUNK_SECONDS",
                defaults.chunk_time.as_secs(),
                (1, 900),
            )?,
            max_receives: env.number(
                "PUBLISH_MAX_RECEIVES",
                u64::from(defaults.max_receives),
                (1, 100),
            )? as u32,
            daily_cap: env.number("POSTS_DAILY_CAP", u64::from(defaults.daily_cap), (1, 1000))?
                as u32,
            max_video_seconds: env.number(
                "PUBLISH_MAX_VIDEO_SECONDS",
                u64::from(defaults.max_video_seconds),
                (1, 3600),
            )? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlives_any_invocation() {
        assert_eq!(
            PublishSettings::from_env(&Env::default()).unwrap().lease,
            Duration::from_secs(960)
        );
        for (name, value) in [
            ("PUBLISH_LEASE_SECONDS", "900"),
            ("PUBLISH_STATUS_CHECK_SECONDS", "3600"),
            ("PUBLISH_MAX_DEFER_SECONDS", "901"),
        ] {
            let env = Env::from_pairs([(name, value)]);
            assert!(
                matches!(PublishSettings::from_env(&env), Err(ConfigError::Malformed { name: n, .. }) if n == name),
                "{name}"
            );
        }
    }
}
