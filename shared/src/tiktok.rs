//! The TikTok client: the authorize URL, the token endpoint (code exchange
//! and refresh), user info and revoke.
//!
//! TikTok answers OAuth calls with flat objects (`{error, error_description,
//! log_id}` on failure) and the rest of its API with a `{data, error}`
//! envelope whose `error.code` is `ok` on success. Both are mapped to
//! [`TikTokError`]. Clients must not trust HTTP status alone: a non-empty
//! `error` is a failure whatever the status.

pub mod posting;

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use url::Url;

use crate::{
    account::{AccountId, Profile, Scopes},
    config::{AuthorizeSettings, TikTokSettings},
    tokens::{AccessToken, AuthCode, ClientSecret, OAuthState, RefreshToken, TokenSet},
};

/// The URL the browser is sent to so the TikTok user can grant access.
/// `disable_auto_auth=1` always shows the consent screen, so one of our users
/// can add a second TikTok account instead of silently re-granting the first.
pub fn authorize_url(settings: &AuthorizeSettings, state: &OAuthState) -> Url {
    let mut url = settings.auth_url.clone();
    url.query_pairs_mut()
        .append_pair("client_key", &settings.client_key)
        .append_pair("response_type", "code")
        .append_pair("scope", &settings.scopes.to_string())
        .append_pair("redirect_uri", settings.redirect_uri.as_str())
        .append_pair("state", state.expose())
        .append_pair("disable_auto_auth", "1");
    url
}

/// What the token endpoint grants: the tokens and when they expire.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub open_id: AccountId,
    pub tokens: TokenSet,
    pub scopes: Scopes,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

#[derive(thiserror::Error)]
pub enum TikTokError {
    /// A flat OAuth error (`invalid_grant`, `invalid_request`, …).
    #[error("TikTok OAuth error {code} (HTTP {status}): {description}")]
    OAuth {
        status: u16,
        code: String,
        description: String,
        log_id: Option<String>,
    },
    /// A `{data, error}` envelope whose `error.code` is not `ok`.
    #[error("TikTok API error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        log_id: Option<String>,
    },
    #[error("TikTok did not answer in time")]
    Timeout,
    #[error("could not reach TikTok")]
    Network(#[source] reqwest::Error),
    /// A body we could not read as TikTok's documented shape.
    #[error("TikTok answered HTTP {status} with an unexpected body: {reason}")]
    Malformed { status: u16, reason: String },
}

impl fmt::Debug for TikTokError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

impl TikTokError {
    /// Worth retrying later: network trouble, timeouts, 5xx, rate limits.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Network(_) => true,
            Self::OAuth { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(code.as_str(), "server_error" | "temporarily_unavailable")
            }
            Self::Api { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(code.as_str(), "internal_error" | "rate_limit_exceeded")
            }
            Self::Malformed { status, .. } => *status >= 500 || *status == 429,
        }
    }

    /// The refresh token (or code) is no longer any good.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::OAuth { code, .. } if code == "invalid_grant")
    }

    /// The short code for logs and summaries (`invalid_grant`, `timeout`, …).
    pub fn code(&self) -> &str {
        match self {
            Self::OAuth { code, .. } | Self::Api { code, .. } => code,
            Self::Timeout => "timeout",
            Self::Network(_) => "network",
            Self::Malformed { .. } => "malformed_response",
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            Self::Network(e.without_url())
        }
    }
}

/// The largest body we read from TikTok; its documented bodies are tiny.
const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct TikTokClient {
    http: reqwest::Client,
    client_key: String,
    client_secret: ClientSecret,
    api_base_url: Url,
    timeout: std::time::Duration,
}

impl TikTokClient {
    /// `http` is built once at cold start (see [`http_client`]).
    pub fn new(http: reqwest::Client, settings: &TikTokSettings) -> Self {
        Self {
            http,
            client_key: settings.client_key.clone(),
            client_secret: settings.client_secret.clone(),
            api_base_url: settings.api_base_url.clone(),
            timeout: settings.timeout,
        }
    }

    /// The shared HTTP client (the media transfer uses it too).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A POST to one of TikTok's API endpoints, bounded by the API timeout.
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.endpoint(path)).timeout(self.timeout)
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.api_base_url.clone();
        url.set_path(path);
        url
    }

    /// `POST /v2/oauth/token/` with `grant_type=authorization_code`.
    #[tracing::instrument(name = "tiktok.exchange_code", skip_all)]
    pub async fn exchange_code(
        &self,
        code: &AuthCode,
        redirect_uri: &Url,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        let form = [
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("code", code.expose()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        self.token_request(&form, now).await
    }

    /// `POST /v2/oauth/token/` with `grant_type=refresh_token`.
    #[tracing::instrument(name = "tiktok.refresh", skip_all)]
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        let form = [
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_request(&form, now).await
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        let (status, body) = call(
            self.post("/v2/oauth/token/")
                .header("Cache-Control", "no-cache")
                .form(form),
        )
        .await?;
        parse_token_response(status, &body, now)
    }

    /// `GET /v2/user/info/` for the profile fields of `user.info.basic`.
    #[tracing::instrument(name = "tiktok.user_info", skip_all)]
    pub async fn user_info(&self, access: &AccessToken) -> Result<UserInfo, TikTokError> {
        let mut url = self.endpoint("/v2/user/info/");
        url.query_pairs_mut()
            .append_pair("fields", "open_id,union_id,avatar_url,display_name");
        let (status, body) = call(
            self.http
                .get(url)
                .timeout(self.timeout)
                .bearer_auth(access.expose()),
        )
        .await?;
        #[derive(Deserialize)]
        struct Data {
            user: RawUser,
        }
        #[derive(Deserialize)]
        struct RawUser {
            open_id: String,
            #[serde(default)]
            display_name: Option<String>,
            #[serde(default)]
            avatar_url: Option<String>,
        }
        let data: Data = parse_envelope(status, &body)?;
        let open_id = AccountId::parse(data.user.open_id).map_err(|e| TikTokError::Malformed {
            status,
            reason: format!("user.open_id: {e}"),
        })?;
        Ok(UserInfo {
            open_id,
            profile: Profile {
                display_name: data.user.display_name.unwrap_or_default(),
                avatar_url: data.user.avatar_url.filter(|u| !u.is_empty()),
            },
        })
    }

    /// `POST /v2/oauth/revoke/`: TikTok answers an empty object on success.
    #[tracing::instrument(name = "tiktok.revoke", skip_all)]
    pub async fn revoke(&self, access: &AccessToken) -> Result<(), TikTokError> {
        let form = [
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("token", access.expose()),
        ];
        let (status, body) = call(self.post("/v2/oauth/revoke/").form(&form)).await?;
        let value: serde_json::Value = if body.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&body).map_err(|_| TikTokError::Malformed {
                status,
                reason: "not JSON".into(),
            })?
        };
        if let Some(error) = oauth_error(status, &value) {
            return Err(error);
        }
        if let Some(error) = envelope_error(status, &value) {
            return Err(error);
        }
        if !(200..300).contains(&status) {
            return Err(TikTokError::Malformed {
                status,
                reason: "unsuccessful status without an error".into(),
            });
        }
        Ok(())
    }
}

/// The user's identity and public profile.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub open_id: AccountId,
    pub profile: Profile,
}

/// How long the upload host may stay silent while answering a chunk.
const TRANSFER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The one HTTP client for TikTok, built once at cold start: rustls,
/// no redirects (TikTok's API never redirects; a redirect is a fault), a
/// connect timeout and a read timeout. API calls add their own overall
/// timeout (`TIKTOK_TIMEOUT_SECONDS`); chunk uploads, which take as long as
/// their bytes take, do not.
pub fn http_client(settings: &TikTokSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(5)))
        .read_timeout(TRANSFER_READ_TIMEOUT.max(settings.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tiktok-manager/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends a request to TikTok and reads its (small) answer.
async fn call(request: reqwest::RequestBuilder) -> Result<(u16, String), TikTokError> {
    let response = request.send().await.map_err(TikTokError::from_reqwest)?;
    read_body(response).await
}

async fn read_body(response: reqwest::Response) -> Result<(u16, String), TikTokError> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(TikTokError::Malformed {
            status,
            reason: "body too large".into(),
        });
    }
    let bytes = response.bytes().await.map_err(TikTokError::from_reqwest)?;
    if bytes.len() > MAX_BODY {
        return Err(TikTokError::Malformed {
            status,
            reason: "body too large".into(),
        });
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn string_field(value: &serde_json::Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// A flat OAuth error: a non-empty top-level `error` string.
fn oauth_error(status: u16, value: &serde_json::Value) -> Option<TikTokError> {
    let code = string_field(value, "error").filter(|c| !c.is_empty())?;
    Some(TikTokError::OAuth {
        status,
        code,
        description: string_field(value, "error_description").unwrap_or_default(),
        log_id: string_field(value, "log_id"),
    })
}

/// A `{data, error}` envelope whose `error.code` is not `ok`.
fn envelope_error(status: u16, value: &serde_json::Value) -> Option<TikTokError> {
    let error = value.get("error")?.as_object()?;
    let code = error.get("code")?.as_str()?;
    if code == "ok" {
        return None;
    }
    Some(TikTokError::Api {
        status,
        code: code.to_owned(),
        message: error
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned(),
        log_id: error
            .get("log_id")
            .and_then(|m| m.as_str())
            .map(str::to_owned),
    })
}

/// Parses a `{data, error}` envelope into `data`.
pub fn parse_envelope<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
) -> Result<T, TikTokError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| TikTokError::Malformed {
            status,
            reason: "not JSON".into(),
        })?;
    if let Some(error) = envelope_error(status, &value) {
        return Err(error);
    }
    if value.get("error").and_then(|e| e.get("code")).is_none() {
        return Err(TikTokError::Malformed {
            status,
            reason: "no error.code in the envelope".into(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(TikTokError::Malformed {
            status,
            reason: "unsuccessful status with error.code ok".into(),
        });
    }
    let data = value
        .get("data")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::from_value(data).map_err(|e| TikTokError::Malformed {
        status,
        reason: format!("data: {e}"),
    })
}

/// Parses the token endpoint's flat answer. Expiries come from the
/// response's own `expires_in` and `refresh_expires_in`: TikTok's documents
/// disagree on lifetimes, so none is assumed.
pub fn parse_token_response(
    status: u16,
    body: &str,
    now: DateTime<Utc>,
) -> Result<TokenGrant, TikTokError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| TikTokError::Malformed {
            status,
            reason: "not JSON".into(),
        })?;
    if let Some(error) = oauth_error(status, &value) {
        return Err(error);
    }
    if let Some(error) = envelope_error(status, &value) {
        return Err(error);
    }
    if !(200..300).contains(&status) {
        return Err(TikTokError::Malformed {
            status,
            reason: "unsuccessful status without an error".into(),
        });
    }
    let malformed = |reason: &str| TikTokError::Malformed {
        status,
        reason: reason.to_owned(),
    };
    let open_id = string_field(&value, "open_id")
        .and_then(|v| AccountId::parse(v).ok())
        .ok_or_else(|| malformed("open_id missing or invalid"))?;
    let access = value
        .get("access_token")
        .and_then(|v| v.as_str())
        .and_then(|v| AccessToken::parse(v).ok())
        .ok_or_else(|| malformed("access_token missing or empty"))?;
    let refresh = value
        .get("refresh_token")
        .and_then(|v| v.as_str())
        .and_then(|v| RefreshToken::parse(v).ok())
        .ok_or_else(|| malformed("refresh_token missing or empty"))?;
    let lifetime = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_i64)
            .filter(|s| *s > 0)
            .map(Duration::seconds)
            .ok_or_else(|| malformed(&format!("{key} missing or not positive")))
    };
    let access_expires_at = now + lifetime("expires_in")?;
    let refresh_expires_at = now + lifetime("refresh_expires_in")?;
    let scopes = string_field(&value, "scope")
        .and_then(|s| Scopes::parse(&s).ok())
        .ok_or_else(|| malformed("scope missing or invalid"))?;
    Ok(TokenGrant {
        open_id,
        tokens: TokenSet { access, refresh },
        scopes,
        access_expires_at,
        refresh_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANT: &str = r#"{"access_token":"act.example12345","expires_in":7200,
        "open_id":"afd97af1-b87b-48b9-ac98-410aghda5344","refresh_expires_in":15552000,
        "refresh_token":"rft.example12345","scope":"user.info.basic,video.upload","token_type":"Bearer"}"#;

    #[test]
    fn authorize_url_carries_everything_tiktok_needs() {
        let settings = AuthorizeSettings {
            client_key: "ck".into(),
            auth_url: Url::parse("https://www.tiktok.com/v2/auth/authorize/").unwrap(),
            scopes: Scopes::parse("user.info.basic,video.publish").unwrap(),
            redirect_uri: Url::parse("https://api.example.com/oauth/tiktok/callback").unwrap(),
        };
        let state = OAuthState::generate();
        let url = authorize_url(&settings, &state);
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["client_key"], "ck");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["scope"], "user.info.basic,video.publish");
        assert_eq!(
            pairs["redirect_uri"],
            "https://api.example.com/oauth/tiktok/callback"
        );
        assert_eq!(pairs["state"], state.expose());
        assert_eq!(pairs["disable_auto_auth"], "1");
        assert!(!pairs.contains_key("client_id"));
    }

    #[test]
    fn token_response_expiries_come_from_the_response() {
        let now = Utc::now();
        let grant = parse_token_response(200, GRANT, now).unwrap();
        assert_eq!(grant.access_expires_at, now + Duration::seconds(7200));
        assert_eq!(
            grant.refresh_expires_at,
            now + Duration::seconds(15_552_000)
        );
        assert_eq!(grant.tokens.refresh.expose(), "rft.example12345");
        assert_eq!(grant.scopes.to_string(), "user.info.basic,video.upload");
    }

    #[test]
    fn flat_oauth_errors_are_typed_whatever_the_status() {
        for status in [200, 400, 401] {
            let body = r#"{"error":"invalid_grant","error_description":"Refresh token is invalid","log_id":"L1"}"#;
            let err = parse_token_response(status, body, Utc::now()).unwrap_err();
            assert!(err.is_invalid_grant(), "{err}");
            assert!(!err.is_transient());
        }
        let err = parse_token_response(
            503,
            r#"{"error":"temporarily_unavailable","error_description":"","log_id":"L"}"#,
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.is_transient());
    }

    #[test]
    fn an_empty_refresh_token_is_refused() {
        let body = GRANT.replace("rft.example12345", "");
        let err = parse_token_response(200, &body, Utc::now()).unwrap_err();
        assert!(matches!(err, TikTokError::Malformed { .. }), "{err}");
        let body = GRANT.replace(r#""refresh_expires_in":15552000,"#, "");
        assert!(parse_token_response(200, &body, Utc::now()).is_err());
    }

    #[test]
    fn malformed_bodies_and_bare_5xx_are_malformed() {
        let err = parse_token_response(502, "<html>bad gateway</html>", Utc::now()).unwrap_err();
        assert!(matches!(err, TikTokError::Malformed { status: 502, .. }));
        assert!(err.is_transient());
        let err = parse_token_response(200, "{}", Utc::now()).unwrap_err();
        assert!(!err.is_transient());
    }

    #[test]
    fn envelopes_map_codes() {
        #[derive(Deserialize, Debug)]
        struct D {
            x: u8,
        }
        let ok: D = parse_envelope(
            200,
            r#"{"data":{"x":1},"error":{"code":"ok","message":"","log_id":"l"}}"#,
        )
        .unwrap();
        assert_eq!(ok.x, 1);
        let err = parse_envelope::<D>(
            401,
            r#"{"data":{},"error":{"code":"access_token_invalid","message":"m","log_id":"l"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "access_token_invalid");
        assert!(!err.is_transient());
        let err = parse_envelope::<D>(
            429,
            r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"m","log_id":"l"}}"#,
        )
        .unwrap_err();
        assert!(err.is_transient());
        assert!(parse_envelope::<D>(200, r#"{"data":{"x":1}}"#).is_err());
    }
}
