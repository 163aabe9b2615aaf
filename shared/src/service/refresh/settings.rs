//! The refresh's tunables: defaults, bounds and what each is for.

use std::time::Duration;

use crate::{
    domain::schedule::DueShards,
    env::{ConfigError, Env},
};

/// How the schedule's invocation refreshes (`REFRESH_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefreshMode {
    /// One invocation sweeps every shard (small deployments, local use).
    #[default]
    Sweep,
    /// The invocation plans; `refresh-worker`s refresh the slices.
    Fanout,
}

impl RefreshMode {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.get("REFRESH_MODE").map(str::trim) {
            None | Some("sweep") => Ok(Self::Sweep),
            Some("fanout") => Ok(Self::Fanout),
            Some(_) => Err(ConfigError::malformed(
                "REFRESH_MODE",
                "expected sweep or fanout",
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RefreshSettings {
    /// Accounts refreshed at once (`REFRESH_CONCURRENCY`, 1-256).
    pub concurrency: usize,
    /// How long a lease lasts; must outlive the worst-case refresh
    /// (`REFRESH_LEASE_SECONDS`, 60-900).
    pub lease: Duration,
    /// Attempts at TikTok's token endpoint for transient errors
    /// (`REFRESH_ATTEMPTS`, 1-5).
    pub tiktok_attempts: u32,
    /// Attempts at storing new tokens (the SDK retries inside each;
    /// `REFRESH_STORE_ATTEMPTS`, 1-10).
    pub store_attempts: u32,
    /// First backoff; doubles per attempt, with jitter
    /// (`REFRESH_BACKOFF_MS`, 1-10000).
    pub backoff: Duration,
    /// Warn this long before the refresh token itself expires
    /// (`REAUTH_LEAD_DAYS`, 0-365).
    pub reauth_lead: Duration,
    /// How long a worker waits before it takes the accounts of its slice
    /// that failed again (`REFRESH_RETRY_SECONDS`, 0-900): within the same
    /// plan, rather than 30 minutes later at the next.
    pub failure_retry: Duration,
    /// Due-index page size.
    pub page_size: i32,
    /// Due-index page size when a plan counts what is due.
    pub plan_page_size: i32,
    /// The due index's shard count (`REFRESH_SHARDS`).
    pub due_shards: DueShards,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            lease: Duration::from_secs(300),
            tiktok_attempts: 3,
            store_attempts: 5,
            backoff: Duration::from_millis(250),
            reauth_lead: Duration::from_secs(7 * 24 * 3600),
            failure_retry: Duration::from_secs(120),
            page_size: 100,
            plan_page_size: 1000,
            due_shards: DueShards::DEFAULT,
        }
    }
}

const DAY: u64 = 86_400;

impl RefreshSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            concurrency: env.number("REFRESH_CONCURRENCY", defaults.concurrency as u64, (1, 256))?
                as usize,
            lease: env.seconds("REFRESH_LEASE_SECONDS", defaults.lease.as_secs(), (60, 900))?,
            tiktok_attempts: env.number(
                "REFRESH_ATTEMPTS",
                u64::from(defaults.tiktok_attempts),
                (1, 5),
            )? as u32,
            backoff: env.millis(
                "REFRESH_BACKOFF_MS",
                defaults.backoff.as_millis() as u64,
                (1, 10_000),
            )?,
            store_attempts: env.number(
                "REFRESH_STORE_ATTEMPTS",
                u64::from(defaults.store_attempts),
                (1, 10),
            )? as u32,
            reauth_lead: Duration::from_secs(
                DAY * env.number(
                    "REAUTH_LEAD_DAYS",
                    defaults.reauth_lead.as_secs() / DAY,
                    (0, 365),
                )?,
            ),
            failure_retry: env.seconds(
                "REFRESH_RETRY_SECONDS",
                defaults.failure_retry.as_secs(),
                (0, 900),
            )?,
            due_shards: DueShards::from_env(env)?,
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let settings = RefreshSettings::from_env(&Env::default()).unwrap();
        assert_eq!(settings.concurrency, 32);
        assert_eq!(settings.lease, Duration::from_secs(300));
        assert_eq!(settings.reauth_lead, Duration::from_secs(7 * DAY));
        assert_eq!(settings.due_shards, DueShards::DEFAULT);
        assert_eq!(
            RefreshMode::from_env(&Env::default()),
            Ok(RefreshMode::Sweep)
        );
        let env = Env::from_pairs([("REFRESH_MODE", "fanout"), ("REFRESH_SHARDS", "256")]);
        assert_eq!(RefreshMode::from_env(&env), Ok(RefreshMode::Fanout));
        assert_eq!(
            RefreshSettings::from_env(&env).unwrap().due_shards.count(),
            256
        );
        let env = Env::from_pairs([("REFRESH_MODE", "sideways")]);
        assert!(RefreshMode::from_env(&env).is_err());
        let env = Env::from_pairs([("REFRESH_CONCURRENCY", "0")]);
        assert!(matches!(
            RefreshSettings::from_env(&env),
            Err(ConfigError::Malformed {
                name: "REFRESH_CONCURRENCY",
                ..
            })
        ));
    }
}
