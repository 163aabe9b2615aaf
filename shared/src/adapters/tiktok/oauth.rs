//! TikTok's Login Kit: the authorize URL, the token endpoint (code exchange
//! and refresh), user info and revoke.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use super::{
    client::{TikTokClient, call},
    settings::AuthorizeSettings,
    wire::{flat_answer, parse_envelope, parse_json, parse_token_response},
};
use crate::domain::{
    account::Profile,
    ids::AccountId,
    ports::TokenEndpoint,
    secrets::{AccessToken, AuthCode, OAuthState, RefreshToken},
    tiktok::{TikTokError, TokenGrant},
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

/// The user's identity and public profile.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub open_id: AccountId,
    pub profile: Profile,
}

impl TikTokClient {
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
        parse_user_info(status, &body)
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
        let value = if body.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            parse_json(status, &body)?
        };
        flat_answer(status, &value)
    }
}

impl TokenEndpoint for TikTokClient {
    /// `POST /v2/oauth/token/` with `grant_type=refresh_token`.
    #[tracing::instrument(name = "tiktok.refresh", skip_all)]
    async fn refresh(
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
}

/// Reads a user info answer: the open_id, and the profile we show.
pub(super) fn parse_user_info(status: u16, body: &str) -> Result<UserInfo, TikTokError> {
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
    let data: Data = parse_envelope(status, body)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Scopes;

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
}
