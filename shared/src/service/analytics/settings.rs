//! The snapshots' tunables: defaults, bounds and what each is for.

use crate::env::{ConfigError, Env};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyticsSettings {
    /// The newest videos snapshotted per account
    /// (`ANALYTICS_VIDEOS_PER_ACCOUNT`, 0-1000, default 20: one page).
    pub videos_per_account: u32,
    /// Days a snapshot is kept (`ANALYTICS_RETENTION_DAYS`, 1-3650,
    /// default 400), by TTL.
    pub retention_days: u32,
    /// Display API calls per minute for the whole app, on top of TikTok's
    /// 600 per token (`ANALYTICS_APP_REQUESTS_PER_MINUTE`, 1-1000000,
    /// default 600: TikTok does not say whether its limit is per token or
    /// per app, so the default holds it per app too).
    pub app_requests_per_minute: u32,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            videos_per_account: 20,
            retention_days: 400,
            app_requests_per_minute: 600,
        }
    }
}

impl AnalyticsSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            videos_per_account: env.number(
                "ANALYTICS_VIDEOS_PER_ACCOUNT",
                u64::from(defaults.videos_per_account),
                (0, 1000),
            )? as u32,
            retention_days: env.number(
                "ANALYTICS_RETENTION_DAYS",
                u64::from(defaults.retention_days),
                (1, 3650),
            )? as u32,
            app_requests_per_minute: env.number(
                "ANALYTICS_APP_REQUESTS_PER_MINUTE",
                u64::from(defaults.app_requests_per_minute),
                (1, 1_000_000),
            )? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            AnalyticsSettings::from_env(&Env::default()).unwrap(),
            AnalyticsSettings::default()
        );
        for (name, value) in [
            ("ANALYTICS_VIDEOS_PER_ACCOUNT", "1001"),
            ("ANALYTICS_RETENTION_DAYS", "0"),
            ("ANALYTICS_APP_REQUESTS_PER_MINUTE", "many"),
        ] {
            let env = Env::from_pairs([(name, value)]);
            assert!(
                matches!(AnalyticsSettings::from_env(&env), Err(ConfigError::Malformed { name: n, .. }) if n == name),
                "{name}"
            );
        }
    }
}
