//! Each function's configuration, read once at cold start: composed from
//! the settings each module owns (`from_env` beside the code that uses
//! them), plus the checks that span modules. Nothing here has a default or
//! a bound of its own.
//!
//! | function | reads |
//! |---|---|
//! | oauth-start | table, authorize URL, start settings |
//! | oauth-callback | table, KMS key, TikTok, callback settings |
//! | token-refresh | table, KMS key, TikTok, refresh settings, refresh mode (and queue in `fanout`) |
//! | refresh-worker | table, KMS key, TikTok, refresh settings, refresh queue |
//! | accounts-api | table, KMS key, TikTok, refresh settings |
//! | upload-presign | table, bucket, upload settings |
//! | upload-publish | table, KMS key, TikTok, bucket, publish queue, publish settings |
//! | tiktok-webhook | table, webhook settings |

use std::time::Duration;

use crate::{
    adapters::{
        aws::AwsSettings,
        kms::KeyId,
        s3::BucketName,
        scheduler::ScheduleSettings,
        sqs::QueueUrl,
        store::TableName,
        tiktok::settings::{AuthorizeSettings, TikTokSettings},
    },
    domain::schedule::DueShards,
    env::{ConfigError, Env},
    service::{
        analytics::AnalyticsSettings,
        oauth::{callback::CallbackSettings, start::StartSettings},
        publish::PublishSettings,
        refresh::{RefreshBudget, RefreshMode, RefreshSettings},
        uploads::UploadSettings,
        webhooks::WebhookSettings,
    },
};

/// The variable naming the publish queue.
pub const PUBLISH_QUEUE_URL: &str = "PUBLISH_QUEUE_URL";

/// The variable naming the refresh queue (fan-out's slices).
pub const REFRESH_QUEUE_URL: &str = "REFRESH_QUEUE_URL";

/// The function's configured timeout (`FUNCTION_TIMEOUT_SECONDS`, 1-900,
/// required where a worst case is checked): the template passes each
/// function's `Timeout`, so a misconfiguration stops it at cold start
/// instead of killing work half done.
pub const FUNCTION_TIMEOUT_SECONDS: &str = "FUNCTION_TIMEOUT_SECONDS";

/// How long API Gateway's HTTP API waits for a function.
pub const HTTP_API_LIMIT: Duration = Duration::from_secs(30);

fn function_timeout(env: &Env) -> Result<Duration, ConfigError> {
    env.required(FUNCTION_TIMEOUT_SECONDS)?;
    env.seconds(FUNCTION_TIMEOUT_SECONDS, 900, (1, 900))
}

/// oauth-start's configuration.
#[derive(Clone, Debug)]
pub struct OAuthStartConfig {
    pub table: TableName,
    pub authorize: AuthorizeSettings,
    pub start: StartSettings,
}

impl OAuthStartConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            authorize: AuthorizeSettings::from_env(env)?,
            start: StartSettings::from_env(env)?,
        })
    }
}

/// What every function that handles tokens needs: the table, the KMS key,
/// AWS's timeouts and the TikTok app.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub table: TableName,
    /// The due-index shards accounts are written to.
    pub due_shards: DueShards,
    pub token_key: KeyId,
    pub aws: AwsSettings,
    pub tiktok: TikTokSettings,
}

impl TokenConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            due_shards: DueShards::from_env(env)?,
            token_key: KeyId::from_env(env)?,
            aws: AwsSettings::from_env(env)?,
            tiktok: TikTokSettings::from_env(env)?,
        })
    }
}

/// oauth-callback's configuration.
#[derive(Clone, Debug)]
pub struct OAuthCallbackConfig {
    pub token: TokenConfig,
    pub callback: CallbackSettings,
}

impl OAuthCallbackConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            token: TokenConfig::from_env(env)?,
            callback: CallbackSettings::from_env(env)?,
        })
    }
}

/// How a function refreshes: a scheduled sweep (or a worker's slice) with
/// its whole timeout, or one refresh asked for over the HTTP API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    Sweep,
    Http,
}

/// token-refresh's, refresh-worker's and accounts-api's configuration.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    pub token: TokenConfig,
    pub refresh: RefreshSettings,
    pub budget: RefreshBudget,
}

/// token-refresh's configuration: how it refreshes, and in `fanout` where
/// its plans go.
#[derive(Clone, Debug)]
pub struct TokenRefreshConfig {
    pub refresh: RefreshConfig,
    pub mode: RefreshMode,
    /// `REFRESH_QUEUE_URL`: required in `fanout`.
    pub queue: Option<QueueUrl>,
}

impl TokenRefreshConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mode = RefreshMode::from_env(env)?;
        Ok(Self {
            refresh: RefreshConfig::from_env(env, Invocation::Sweep)?,
            mode,
            queue: match mode {
                RefreshMode::Sweep => None,
                RefreshMode::Fanout => Some(QueueUrl::from_env(env, REFRESH_QUEUE_URL)?),
            },
        })
    }
}

/// refresh-worker's configuration.
#[derive(Clone, Debug)]
pub struct RefreshWorkerConfig {
    pub refresh: RefreshConfig,
    pub queue: QueueUrl,
}

impl RefreshWorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            refresh: RefreshConfig::from_env(env, Invocation::Sweep)?,
            queue: QueueUrl::from_env(env, REFRESH_QUEUE_URL)?,
        })
    }
}

impl RefreshConfig {
    pub fn from_env(env: &Env, invocation: Invocation) -> Result<Self, ConfigError> {
        let token = TokenConfig::from_env(env)?;
        let refresh = RefreshSettings::from_env(env)?;
        let budget =
            RefreshBudget::new(&refresh, token.tiktok.timeout, token.aws.operation_timeout);
        let tunables = "TIKTOK_TIMEOUT_SECONDS, AWS_OPERATION_TIMEOUT_SECONDS, \
                        REFRESH_ATTEMPTS and REFRESH_STORE_ATTEMPTS";
        // The lease must outlive the worst-case refresh.
        if refresh.lease < budget.whole() {
            return Err(ConfigError::malformed(
                "REFRESH_LEASE_SECONDS",
                format!(
                    "must outlive the worst-case refresh ({} s with {tunables} as set)",
                    budget.whole().as_secs_f64().ceil()
                ),
            ));
        }
        let timeout = function_timeout(env)?;
        let (needed, room) = match invocation {
            Invocation::Sweep => (budget.whole(), timeout),
            Invocation::Http => (budget.least(), timeout.min(HTTP_API_LIMIT)),
        };
        if room < needed {
            return Err(ConfigError::malformed(
                FUNCTION_TIMEOUT_SECONDS,
                format!(
                    "{} s leaves no room for a refresh, which needs {} s with {tunables} as set{}",
                    timeout.as_secs(),
                    needed.as_secs_f64().ceil(),
                    if invocation == Invocation::Http {
                        " (the HTTP API waits 30 s at most)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(Self {
            token,
            refresh,
            budget,
        })
    }
}

/// upload-presign's configuration.
#[derive(Clone, Debug)]
pub struct UploadPresignConfig {
    pub table: TableName,
    pub bucket: BucketName,
    pub uploads: UploadSettings,
}

impl UploadPresignConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            bucket: BucketName::from_env(env)?,
            uploads: UploadSettings::from_env(env)?,
        })
    }
}

/// analytics-snapshot's configuration.
#[derive(Clone, Debug)]
pub struct AnalyticsSnapshotConfig {
    pub token: TokenConfig,
    pub analytics: AnalyticsSettings,
    pub queue: QueueUrl,
}

impl AnalyticsSnapshotConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            token: TokenConfig::from_env(env)?,
            analytics: AnalyticsSettings::from_env(env)?,
            queue: QueueUrl::from_env(env, "ANALYTICS_QUEUE_URL")?,
        })
    }
}

/// analytics-api's configuration.
#[derive(Clone, Debug)]
pub struct AnalyticsApiConfig {
    pub table: TableName,
    pub aws: AwsSettings,
}

impl AnalyticsApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            aws: AwsSettings::from_env(env)?,
        })
    }
}

/// posts-api's configuration.
#[derive(Clone, Debug)]
pub struct PostsApiConfig {
    pub table: TableName,
    pub bucket: BucketName,
    pub queue: QueueUrl,
    pub schedules: ScheduleSettings,
}

impl PostsApiConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            bucket: BucketName::from_env(env)?,
            queue: QueueUrl::from_env(env, PUBLISH_QUEUE_URL)?,
            schedules: ScheduleSettings::from_env(env)?,
        })
    }
}

/// upload-publish's configuration.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    pub token: TokenConfig,
    pub bucket: BucketName,
    pub queue: QueueUrl,
    pub schedules: ScheduleSettings,
    pub publish: PublishSettings,
}

impl PublishConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let publish = PublishSettings::from_env(env)?;
        let config = Self {
            token: TokenConfig::from_env(env)?,
            bucket: BucketName::from_env(env)?,
            queue: QueueUrl::from_env(env, PUBLISH_QUEUE_URL)?,
            schedules: ScheduleSettings::from_env(env)?,
            publish,
        };
        // A live worker must never lose its upload to another.
        let timeout = function_timeout(env)?;
        if config.publish.lease <= timeout {
            return Err(ConfigError::malformed(
                "PUBLISH_LEASE_SECONDS",
                format!(
                    "must outlive the function's timeout ({FUNCTION_TIMEOUT_SECONDS} is {} s)",
                    timeout.as_secs()
                ),
            ));
        }
        Ok(config)
    }
}

/// tiktok-webhook's configuration.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub table: TableName,
    pub webhook: WebhookSettings,
}

impl WebhookConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            webhook: WebhookSettings::from_env(env)?,
            table: TableName::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::tiktok::settings::{DEFAULT_AUTH_URL, DEFAULT_SCOPES};

    fn full() -> Env {
        Env::from_pairs([
            ("TABLE_NAME", "accounts"),
            ("TOKEN_KEY_ID", "alias/tokens"),
            ("TIKTOK_CLIENT_KEY", "ck_123"),
            ("TIKTOK_CLIENT_SECRET", "super-secret-value"),
            (
                "OAUTH_REDIRECT_URI",
                "https://api.example.com/oauth/tiktok/callback",
            ),
            ("APP_RETURN_URL", "https://app.example.com/accounts"),
            ("FUNCTION_TIMEOUT_SECONDS", "900"),
        ])
    }

    #[test]
    fn loads_with_defaults() {
        let start = OAuthStartConfig::from_env(&full()).unwrap();
        assert_eq!(start.authorize.auth_url.as_str(), DEFAULT_AUTH_URL);
        assert_eq!(start.authorize.scopes.to_string(), DEFAULT_SCOPES);
        assert_eq!(start.start.state_ttl, Duration::from_secs(600));
        let callback = OAuthCallbackConfig::from_env(&full()).unwrap();
        assert_eq!(
            callback.token.tiktok.api_base_url.as_str(),
            "https://open.tiktokapis.com/"
        );
        assert_eq!(callback.token.tiktok.timeout, Duration::from_secs(10));
    }

    #[test]
    fn names_the_missing_variable() {
        for name in [
            "TABLE_NAME",
            "TOKEN_KEY_ID",
            "TIKTOK_CLIENT_KEY",
            "TIKTOK_CLIENT_SECRET",
            "OAUTH_REDIRECT_URI",
            "APP_RETURN_URL",
        ] {
            let mut env = full();
            env.remove(name);
            let err = OAuthCallbackConfig::from_env(&env).unwrap_err();
            assert_eq!(err, ConfigError::Missing { name });
            let line = err.to_string();
            assert!(line.contains(name) && !line.contains('\n'), "{line}");
        }
        // oauth-start needs neither the key, the secret nor the return URL.
        let mut env = full();
        env.remove("TOKEN_KEY_ID");
        env.remove("TIKTOK_CLIENT_SECRET");
        env.remove("APP_RETURN_URL");
        assert!(OAuthStartConfig::from_env(&env).is_ok());
    }

    #[test]
    fn refresh_tunables_have_defaults_and_bounds() {
        let config = RefreshConfig::from_env(&full(), Invocation::Sweep).unwrap();
        assert_eq!(config.refresh.concurrency, 32);
        assert_eq!(config.refresh.lease, Duration::from_secs(300));
        let mut env = full();
        env.set("REFRESH_CONCURRENCY", "0");
        assert!(matches!(
            RefreshConfig::from_env(&env, Invocation::Sweep),
            Err(ConfigError::Malformed {
                name: "REFRESH_CONCURRENCY",
                ..
            })
        ));
        // A lease shorter than the worst-case refresh is refused.
        let mut env = full();
        env.set("TIKTOK_TIMEOUT_SECONDS", "60");
        env.set("REFRESH_ATTEMPTS", "5");
        let err = RefreshConfig::from_env(&env, Invocation::Sweep).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Malformed {
                    name: "REFRESH_LEASE_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn each_function_s_timeout_fits_its_worst_case() {
        // The defaults fit both: a sweep of 15 minutes, a forced refresh in
        // the HTTP API's 30 seconds.
        assert!(RefreshConfig::from_env(&full(), Invocation::Sweep).is_ok());
        let mut env = full();
        env.set("FUNCTION_TIMEOUT_SECONDS", "30");
        let config = RefreshConfig::from_env(&env, Invocation::Http).unwrap();
        assert!(config.budget.least() <= HTTP_API_LIMIT);
        // A sweep whose timeout cannot fit one whole refresh.
        env.set("FUNCTION_TIMEOUT_SECONDS", "60");
        let err = RefreshConfig::from_env(&env, Invocation::Sweep).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Malformed {
                    name: "FUNCTION_TIMEOUT_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("TIKTOK_TIMEOUT_SECONDS"), "{err}");
        // A forced refresh whose one attempt cannot fit 30 seconds, however
        // long the function may run.
        let mut env = full();
        env.set("TIKTOK_TIMEOUT_SECONDS", "30");
        let err = RefreshConfig::from_env(&env, Invocation::Http).unwrap_err();
        assert!(err.to_string().contains("30 s at most"), "{err}");
        // Required where a worst case is checked.
        let mut env = full();
        env.remove("FUNCTION_TIMEOUT_SECONDS");
        assert_eq!(
            RefreshConfig::from_env(&env, Invocation::Sweep).unwrap_err(),
            ConfigError::Missing {
                name: "FUNCTION_TIMEOUT_SECONDS"
            }
        );
    }

    #[test]
    fn blank_counts_as_missing() {
        let mut env = full();
        env.set("TABLE_NAME", "  ");
        assert_eq!(
            OAuthStartConfig::from_env(&env).unwrap_err(),
            ConfigError::Missing { name: "TABLE_NAME" }
        );
    }

    #[test]
    fn malformed_values_are_named_and_secrets_never_echoed() {
        let cases = [
            ("TIKTOK_CLIENT_SECRET", "has a space secret-value"),
            ("OAUTH_REDIRECT_URI", "not a url secret-value"),
            ("OAUTH_REDIRECT_URI", "https://x.example/cb?secret-value=1"),
            ("APP_RETURN_URL", "ftp://x.example/secret-value"),
            ("TIKTOK_API_BASE_URL", "https://x.example/#secret-value"),
            ("TIKTOK_TIMEOUT_SECONDS", "secret-value"),
            ("TIKTOK_TIMEOUT_SECONDS", "0"),
            ("TABLE_NAME", "bad name secret-value"),
        ];
        for (name, value) in cases {
            let mut env = full();
            env.set(name, value);
            let err = OAuthCallbackConfig::from_env(&env).unwrap_err();
            let line = err.to_string();
            assert!(
                matches!(err, ConfigError::Malformed { name: n, .. } if n == name),
                "{line}"
            );
            assert!(!line.contains("secret-value"), "{line}");
        }
    }
}
