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
pub const DEFAULT_SCOPES: &str =
    "user.info.basic,user.info.stats,video.list,video.upload,video.publish";
pub const DEFAULT_UPLOAD_ORIGINS: &str = "https://open-upload.tiktokapis.com";
const UPLOAD_ORIGINS: &str = "TIKTOK_UPLOAD_ORIGINS";

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
    /// Where an `upload_url` may point (`TIKTOK_UPLOAD_ORIGINS`).
    pub upload_origins: UploadOrigins,
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
            upload_origins: UploadOrigins::from_env(env)?,
        })
    }
}

/// The origins (scheme, host, port) an `upload_url` from TikTok may point
/// at: the bytes of a video, and the URL's own token, go nowhere else.
/// https only, except a loopback http origin when the AWS services are a
/// local emulator (`AWS_ENDPOINT_URL` set): the local stack's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadOrigins(Vec<url::Origin>);

impl UploadOrigins {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let local = env.get("AWS_ENDPOINT_URL").is_some();
        let raw = env.get(UPLOAD_ORIGINS).unwrap_or(DEFAULT_UPLOAD_ORIGINS);
        Self::parse(raw, local).map_err(|reason| ConfigError::malformed(UPLOAD_ORIGINS, reason))
    }

    /// Comma-separated origins; `local` allows loopback http ones.
    pub fn parse(raw: &str, local: bool) -> Result<Self, String> {
        let mut origins = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let url = Url::parse(item).map_err(|_| format!("{item:?} is not an origin"))?;
            let bare = url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none();
            if !bare {
                return Err(format!(
                    "{item:?}: an origin is a scheme, a host and a port, nothing more"
                ));
            }
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            match url.scheme() {
                "https" => {}
                "http" if local && loopback => {}
                _ => {
                    return Err(format!(
                        "{item:?}: https only (http only for loopback with a local emulator)"
                    ));
                }
            }
            origins.push(url.origin());
        }
        if origins.is_empty() {
            return Err("no origin given".into());
        }
        Ok(Self(origins))
    }

    /// Whether `url` points at one of the origins.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        url.username().is_empty() && url.password().is_none() && self.0.contains(&origin)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(origins: &UploadOrigins, url: &str) -> bool {
        origins.allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn upload_urls_must_point_at_a_listed_origin() {
        let tiktok = UploadOrigins::parse(DEFAULT_UPLOAD_ORIGINS, false).unwrap();
        assert!(allows(
            &tiktok,
            "https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token=x"
        ));
        assert!(allows(
            &tiktok,
            "https://open-upload.tiktokapis.com:443/video/"
        ));
        for elsewhere in [
            "http://open-upload.tiktokapis.com/video/",
            "https://open-upload.tiktokapis.com:8443/video/",
            "https://open-upload.tiktokapis.com.evil.example/video/",
            "https://evil.example/open-upload.tiktokapis.com/",
            "https://open-upload.tiktokapis.com@evil.example/video/",
            "https://user@open-upload.tiktokapis.com/video/",
            "https://upload.tiktokapis.com/video/",
        ] {
            assert!(!allows(&tiktok, elsewhere), "{elsewhere}");
        }
        let two = UploadOrigins::parse("https://a.example, https://b.example:8443", false).unwrap();
        assert!(allows(&two, "https://b.example:8443/x"));
        assert!(!allows(&two, "https://b.example/x"));
    }

    #[test]
    fn only_https_origins_unless_a_local_loopback() {
        for (raw, local, ok) in [
            ("https://upload.example", false, true),
            ("http://127.0.0.1:9100", true, true),
            ("http://localhost:9100", true, true),
            ("http://[::1]:9100", true, true),
            ("http://127.0.0.1:9100", false, false),
            ("http://upload.example", true, false),
            ("ftp://upload.example", true, false),
            ("https://upload.example/path", false, false),
            ("https://upload.example/?q", false, false),
            ("https://user:pw@upload.example", false, false),
            ("not a url", false, false),
            ("", false, false),
            (" , ", false, false),
        ] {
            assert_eq!(
                UploadOrigins::parse(raw, local).is_ok(),
                ok,
                "{raw:?} {local}"
            );
        }
    }
}
