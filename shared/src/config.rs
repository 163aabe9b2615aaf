//! Typed configuration, read once at cold start.
//!
//! Each function loads only what it needs. A missing or malformed variable
//! is reported as one line naming it; a secret's value is never echoed.
//! Handlers never read the environment: they get these structs.

use std::{collections::HashMap, time::Duration};

use url::Url;

use crate::{
    account::Scopes,
    publish::PublishSettings,
    refresh::RefreshSettings,
    tokens::ClientSecret,
    upload::{DEFAULT_MAX_UPLOAD_BYTES, MIN_UPLOAD_BYTES},
    uploads::UploadSettings,
    webhook::WebhookSettings,
};

/// A snapshot of environment variables. Tests build one from pairs instead of
/// touching the process environment.
#[derive(Clone, Debug, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }

    /// A set, non-blank value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    fn url(&self, name: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let raw = match (self.get(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d,
            (None, None) => return Err(ConfigError::Missing { name }),
        };
        parse_http_url(raw).map_err(|reason| ConfigError::Malformed { name, reason })
    }

    fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_secs)
    }

    /// A whole number within `range` (inclusive), or `default` when unset.
    fn number(
        &self,
        name: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let value: u64 = raw.trim().parse().map_err(|_| ConfigError::Malformed {
            name,
            reason: "expected a whole number".into(),
        })?;
        if value < range.0 || value > range.1 {
            return Err(ConfigError::Malformed {
                name,
                reason: format!("expected {} to {}", range.0, range.1),
            });
        }
        Ok(value)
    }
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http or https URL".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    if url.host_str().is_none() {
        return Err("has no host".into());
    }
    Ok(url)
}

/// Why configuration could not be loaded. Display is the one line printed at
/// init; it names the variable and never includes its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration error: {name} is required but not set")]
    Missing { name: &'static str },
    #[error("configuration error: {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// The DynamoDB table holding every item.
#[derive(Clone, Debug)]
pub struct TableName(String);

impl TableName {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = env.required("TABLE_NAME")?;
        let valid = (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConfigError::Malformed {
                name: "TABLE_NAME",
                reason: "expected 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'".into(),
            });
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What building TikTok's authorize URL needs.
#[derive(Clone, Debug)]
pub struct AuthorizeSettings {
    pub client_key: String,
    pub auth_url: Url,
    pub scopes: Scopes,
    pub redirect_uri: Url,
}

pub const DEFAULT_AUTH_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
pub const DEFAULT_API_BASE_URL: &str = "https://open.tiktokapis.com";
pub const DEFAULT_SCOPES: &str = "user.info.basic,video.upload,video.publish";

impl AuthorizeSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let client_key = client_key(env)?;
        let auth_url = env.url("TIKTOK_AUTH_URL", Some(DEFAULT_AUTH_URL))?;
        let scopes =
            Scopes::parse(env.get("TIKTOK_SCOPES").unwrap_or(DEFAULT_SCOPES)).map_err(|e| {
                ConfigError::Malformed {
                    name: "TIKTOK_SCOPES",
                    reason: e.to_string(),
                }
            })?;
        let redirect_uri = redirect_uri(env)?;
        Ok(Self {
            client_key,
            auth_url,
            scopes,
            redirect_uri,
        })
    }
}

/// The callback URL registered with TikTok: static, so no query.
fn redirect_uri(env: &Env) -> Result<Url, ConfigError> {
    let url = env.url("OAUTH_REDIRECT_URI", None)?;
    if url.query().is_some() {
        return Err(ConfigError::Malformed {
            name: "OAUTH_REDIRECT_URI",
            reason: "TikTok requires a static redirect URI without a query".into(),
        });
    }
    Ok(url)
}

fn client_key(env: &Env) -> Result<String, ConfigError> {
    let key = env.required("TIKTOK_CLIENT_KEY")?;
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(ConfigError::Malformed {
            name: "TIKTOK_CLIENT_KEY",
            reason: "expected letters, digits, '_' or '-'".into(),
        });
    }
    Ok(key.to_owned())
}

/// What calling TikTok's API needs.
#[derive(Clone, Debug)]
pub struct TikTokSettings {
    pub client_key: String,
    pub client_secret: ClientSecret,
    pub api_base_url: Url,
    pub timeout: Duration,
}

impl TikTokSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let client_key = client_key(env)?;
        let client_secret =
            ClientSecret::parse(env.required("TIKTOK_CLIENT_SECRET")?).map_err(|_| {
                ConfigError::Malformed {
                    name: "TIKTOK_CLIENT_SECRET",
                    reason: "expected printable characters without spaces".into(),
                }
            })?;
        let api_base_url = env.url("TIKTOK_API_BASE_URL", Some(DEFAULT_API_BASE_URL))?;
        let timeout = env.seconds("TIKTOK_TIMEOUT_SECONDS", 10, (1, 60))?;
        Ok(Self {
            client_key,
            client_secret,
            api_base_url,
            timeout,
        })
    }
}

/// oauth-start's configuration.
#[derive(Clone, Debug)]
pub struct OAuthStartConfig {
    pub table: TableName,
    pub authorize: AuthorizeSettings,
    pub state_ttl: Duration,
}

impl OAuthStartConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            authorize: AuthorizeSettings::from_env(env)?,
            state_ttl: env.seconds("OAUTH_STATE_TTL_SECONDS", 600, (60, 3600))?,
        })
    }
}

/// What every function that handles tokens needs: the table, the KMS key
/// and the TikTok app.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub table: TableName,
    pub token_key_id: String,
    pub tiktok: TikTokSettings,
}

impl TokenConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            token_key_id: env.required("TOKEN_KEY_ID")?.trim().to_owned(),
            tiktok: TikTokSettings::from_env(env)?,
        })
    }
}

/// oauth-callback's configuration.
#[derive(Clone, Debug)]
pub struct OAuthCallbackConfig {
    pub token: TokenConfig,
    pub redirect_uri: Url,
    pub return_url: Url,
}

impl OAuthCallbackConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            token: TokenConfig::from_env(env)?,
            redirect_uri: redirect_uri(env)?,
            return_url: env.url("APP_RETURN_URL", None)?,
        })
    }
}

/// token-refresh's configuration.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    pub token: TokenConfig,
    pub refresh: RefreshSettings,
}

impl RefreshConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let token = TokenConfig::from_env(env)?;
        let defaults = RefreshSettings::default();
        let refresh = RefreshSettings {
            concurrency: env.number("REFRESH_CONCURRENCY", defaults.concurrency as u64, (1, 256))?
                as usize,
            lease: env.seconds("REFRESH_LEASE_SECONDS", defaults.lease.as_secs(), (60, 900))?,
            tiktok_attempts: env.number(
                "REFRESH_ATTEMPTS",
                u64::from(defaults.tiktok_attempts),
                (1, 5),
            )? as u32,
            backoff: Duration::from_millis(env.number(
                "REFRESH_BACKOFF_MS",
                defaults.backoff.as_millis() as u64,
                (1, 10_000),
            )?),
            reauth_lead: Duration::from_secs(
                86_400
                    * env.number(
                        "REAUTH_LEAD_DAYS",
                        defaults.reauth_lead.as_secs() / 86_400,
                        (0, 365),
                    )?,
            ),
            ..defaults
        };
        // The lease must outlive the worst-case refresh: every TikTok attempt
        // timing out after the longest backoff, plus a minute for the rest.
        let worst = (token.tiktok.timeout + Duration::from_secs(10)) * refresh.tiktok_attempts
            + Duration::from_secs(60);
        if refresh.lease < worst {
            return Err(ConfigError::Malformed {
                name: "REFRESH_LEASE_SECONDS",
                reason: format!(
                    "must outlive the worst-case refresh ({} s with these timeouts and attempts)",
                    worst.as_secs()
                ),
            });
        }
        Ok(Self { token, refresh })
    }
}

/// The S3 bucket uploads go to.
fn upload_bucket(env: &Env) -> Result<String, ConfigError> {
    let name = env.required("UPLOAD_BUCKET")?.trim();
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
    if !valid {
        return Err(ConfigError::Malformed {
            name: "UPLOAD_BUCKET",
            reason: "expected an S3 bucket name (3-63 of a-z, 0-9, '-', '.')".into(),
        });
    }
    Ok(name.to_owned())
}

/// upload-presign's configuration.
#[derive(Clone, Debug)]
pub struct UploadPresignConfig {
    pub table: TableName,
    pub bucket: String,
    pub uploads: UploadSettings,
}

impl UploadPresignConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableName::from_env(env)?,
            bucket: upload_bucket(env)?,
            uploads: UploadSettings {
                max_bytes: env.number(
                    "UPLOAD_MAX_BYTES",
                    DEFAULT_MAX_UPLOAD_BYTES,
                    (MIN_UPLOAD_BYTES, MAX_UPLOAD_BYTES_LIMIT),
                )?,
                url_ttl: env.seconds("UPLOAD_URL_TTL_SECONDS", 900, (60, 3600))?,
            },
        })
    }
}

/// The largest `UPLOAD_MAX_BYTES` allowed: TikTok's 4 GB, read as binary.
pub const MAX_UPLOAD_BYTES_LIMIT: u64 = 4_294_967_296;

/// upload-publish's configuration.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    pub token: TokenConfig,
    pub bucket: String,
    pub queue_url: Url,
    pub publish: PublishSettings,
}

impl PublishConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = PublishSettings::default();
        let publish = PublishSettings {
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
            backoff: Duration::from_millis(env.number(
                "PUBLISH_BACKOFF_MS",
                defaults.backoff.as_millis() as u64,
                (1, 10_000),
            )?),
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
        };
        Ok(Self {
            token: TokenConfig::from_env(env)?,
            bucket: upload_bucket(env)?,
            queue_url: env.url("PUBLISH_QUEUE_URL", None)?,
            publish,
        })
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
        let tiktok = TikTokSettings::from_env(env)?;
        Ok(Self {
            table: TableName::from_env(env)?,
            webhook: WebhookSettings {
                client_key: tiktok.client_key,
                client_secret: tiktok.client_secret,
                tolerance: env.seconds("WEBHOOK_TOLERANCE_SECONDS", 300, (30, 3600))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ])
    }

    #[test]
    fn loads_with_defaults() {
        let start = OAuthStartConfig::from_env(&full()).unwrap();
        assert_eq!(start.authorize.auth_url.as_str(), DEFAULT_AUTH_URL);
        assert_eq!(start.authorize.scopes.to_string(), DEFAULT_SCOPES);
        assert_eq!(start.state_ttl, Duration::from_secs(600));
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
        let config = RefreshConfig::from_env(&full()).unwrap();
        assert_eq!(config.refresh.concurrency, 32);
        assert_eq!(config.refresh.lease, Duration::from_secs(300));
        let mut env = full();
        env.set("REFRESH_CONCURRENCY", "0");
        assert!(matches!(
            RefreshConfig::from_env(&env),
            Err(ConfigError::Malformed {
                name: "REFRESH_CONCURRENCY",
                ..
            })
        ));
        // A lease shorter than the worst-case refresh is refused.
        let mut env = full();
        env.set("TIKTOK_TIMEOUT_SECONDS", "60");
        env.set("REFRESH_ATTEMPTS", "5");
        let err = RefreshConfig::from_env(&env).unwrap_err();
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
