//! What calling TikTok needs, read from the environment: the app's key and
//! secret, where TikTok is, how long to wait for it, and what building the
//! authorize URL needs.

use std::time::Duration;

use url::Url;

use crate::{
    domain::{account::Scopes, secrets::ClientSecret},
    env::{ConfigError, Env},
};

pub const DEFAULT_AUTH_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
pub const DEFAULT_API_BASE_URL: &str = "https://open.tiktokapis.com";
pub const DEFAULT_SCOPES: &str = "user.info.basic,video.upload,video.publish";

/// What calling TikTok's API needs.
#[derive(Clone, Debug)]
pub struct TikTokSettings {
    pub client_key: String,
    pub client_secret: ClientSecret,
    /// `TIKTOK_API_BASE_URL`.
    pub api_base_url: Url,
    /// Each API call's overall timeout (`TIKTOK_TIMEOUT_SECONDS`, 1-60,
    /// default 10).
    pub timeout: Duration,
}

impl TikTokSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let client_secret =
            ClientSecret::parse(env.required("TIKTOK_CLIENT_SECRET")?).map_err(|_| {
                ConfigError::malformed(
                    "TIKTOK_CLIENT_SECRET",
                    "expected printable characters without spaces",
                )
            })?;
        Ok(Self {
            client_key: client_key(env)?,
            client_secret,
            api_base_url: env.url("TIKTOK_API_BASE_URL", Some(DEFAULT_API_BASE_URL))?,
            timeout: env.seconds("TIKTOK_TIMEOUT_SECONDS", 10, (1, 60))?,
        })
    }
}

/// What building TikTok's authorize URL needs.
#[derive(Clone, Debug)]
pub struct AuthorizeSettings {
    pub client_key: String,
    /// `TIKTOK_AUTH_URL`.
    pub auth_url: Url,
    /// `TIKTOK_SCOPES`, comma-separated.
    pub scopes: Scopes,
    pub redirect_uri: Url,
}

impl AuthorizeSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let scopes = Scopes::parse(env.get("TIKTOK_SCOPES").unwrap_or(DEFAULT_SCOPES))
            .map_err(|e| ConfigError::malformed("TIKTOK_SCOPES", e.to_string()))?;
        Ok(Self {
            client_key: client_key(env)?,
            auth_url: env.url("TIKTOK_AUTH_URL", Some(DEFAULT_AUTH_URL))?,
            scopes,
            redirect_uri: redirect_uri(env)?,
        })
    }
}

/// The callback URL registered with TikTok (`OAUTH_REDIRECT_URI`): static,
/// so no query.
pub fn redirect_uri(env: &Env) -> Result<Url, ConfigError> {
    let url = env.url("OAUTH_REDIRECT_URI", None)?;
    if url.query().is_some() {
        return Err(ConfigError::malformed(
            "OAUTH_REDIRECT_URI",
            "TikTok requires a static redirect URI without a query",
        ));
    }
    Ok(url)
}

/// The app's client key (`TIKTOK_CLIENT_KEY`).
fn client_key(env: &Env) -> Result<String, ConfigError> {
    let key = env.required("TIKTOK_CLIENT_KEY")?;
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(ConfigError::malformed(
            "TIKTOK_CLIENT_KEY",
            "expected letters, digits, '_' or '-'",
        ));
    }
    Ok(key.to_owned())
}
