//! The OAuth connect flow: start (a single-use state and TikTok's authorize
//! URL) and callback (consume the state, exchange the code, fetch the
//! profile, seal the tokens, upsert the account).

use std::{collections::HashMap, fmt, time::Duration};

use chrono::{DateTime, Utc};
use url::Url;

use crate::{
    account::{Account, AccountId, AccountStatus, ConnectAction, UserId, connect_action},
    config::AuthorizeSettings,
    ratelimit::{Decision, OAUTH_STARTS_PER_USER, TIKTOK_USER_INFO},
    store::{StateRecord, Store, StoreError},
    tiktok::{TikTokClient, TikTokError, authorize_url},
    tokens::{AuthCode, KmsSealer, OAuthState, SealError},
};

/// Where to send the browser, and until when the flow may complete.
#[derive(Debug, Clone)]
pub struct AuthorizeRedirect {
    pub authorize_url: Url,
    pub expires_at: DateTime<Utc>,
}

#[derive(thiserror::Error)]
pub enum StartError {
    #[error("too many connects started")]
    RateLimited { retry_after_seconds: u64 },
    #[error("could not record the OAuth state")]
    Store(#[from] StoreError),
}

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

/// Starts connects: one fresh, unguessable, single-use state per call.
#[derive(Clone)]
pub struct OAuthStart {
    store: Store,
    settings: AuthorizeSettings,
    state_ttl: Duration,
}

impl OAuthStart {
    pub fn new(store: Store, settings: AuthorizeSettings, state_ttl: Duration) -> Self {
        Self {
            store,
            settings,
            state_ttl,
        }
    }

    #[tracing::instrument(name = "oauth.start", skip_all, fields(user = %user))]
    pub async fn begin(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<AuthorizeRedirect, StartError> {
        if let Decision::Denied {
            retry_after_seconds,
        } = self
            .store
            .rate_hit(&OAUTH_STARTS_PER_USER, user.as_ref(), now)
            .await?
        {
            return Err(StartError::RateLimited {
                retry_after_seconds,
            });
        }
        let state = OAuthState::generate();
        let expires_at = now
            + chrono::Duration::from_std(self.state_ttl).unwrap_or(chrono::Duration::minutes(10));
        let record = StateRecord {
            user: user.clone(),
            created_at: now,
            expires_at,
        };
        self.store.put_state(&state, &record).await?;
        tracing::info!("oauth flow started");
        Ok(AuthorizeRedirect {
            authorize_url: authorize_url(&self.settings, &state),
            expires_at,
        })
    }
}

/// The callback's query, as TikTok sends it: `code`, `scopes`, `state`, or
/// `error` and `error_description`.
#[derive(Debug, Default)]
pub struct CallbackParams {
    state: Option<OAuthState>,
    code: Option<AuthCode>,
    error: Option<String>,
}

impl CallbackParams {
    /// Values that are not even well-formed count as absent: a malformed
    /// state is as good as a forged one.
    pub fn from_query(query: &HashMap<String, String>) -> Self {
        Self {
            state: query
                .get("state")
                .and_then(|s| OAuthState::parse(s.as_str()).ok()),
            code: query
                .get("code")
                .and_then(|c| AuthCode::parse(c.as_str()).ok()),
            error: query
                .get("error")
                .filter(|e| !e.is_empty())
                .map(|e| e.chars().take(64).collect()),
        }
    }
}

/// Why a callback did not connect an account. `reason()` is what the
/// browser is told.
#[derive(thiserror::Error)]
pub enum CallbackError {
    #[error("the state is missing, forged or already used")]
    InvalidState,
    #[error("the state has expired")]
    StateExpired,
    #[error("the TikTok user denied access")]
    AccessDenied,
    #[error("TikTok reported an authorization error: {0}")]
    AuthorizationFailed(String),
    #[error("the callback has no code")]
    MissingCode,
    #[error("the code exchange failed")]
    TokenExchange(#[source] TikTokError),
    #[error("fetching the TikTok profile failed")]
    ProfileFetch(#[source] TikTokError),
    #[error("TikTok's token and profile name different users")]
    IdentityMismatch,
    #[error("the account is connected to another user")]
    ConnectedElsewhere,
    #[error("the account kept changing while being saved")]
    Contended,
    #[error("TikTok's user-info rate limit for this account is reached")]
    RateLimited,
    #[error("could not store the account")]
    Store(#[from] StoreError),
    #[error("could not seal the tokens")]
    Seal(#[from] SealError),
}

impl fmt::Debug for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

impl CallbackError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::StateExpired => "state_expired",
            Self::AccessDenied => "access_denied",
            Self::AuthorizationFailed(_) => "authorization_failed",
            Self::MissingCode => "invalid_request",
            Self::TokenExchange(_) => "token_exchange_failed",
            Self::ProfileFetch(_) => "profile_fetch_failed",
            Self::IdentityMismatch => "identity_mismatch",
            Self::ConnectedElsewhere => "account_connected_elsewhere",
            Self::Contended => "try_again",
            Self::RateLimited => "rate_limited",
            Self::Store(_) | Self::Seal(_) => "temporarily_unavailable",
        }
    }
}

/// Completes connects.
#[derive(Clone)]
pub struct OAuthCallback {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    redirect_uri: Url,
    return_url: Url,
}

/// How many times a connect re-reads and retries when another writer
/// changes the account between its read and its compare-and-swap.
const CONNECT_ATTEMPTS: usize = 3;

impl OAuthCallback {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        redirect_uri: Url,
        return_url: Url,
    ) -> Self {
        Self {
            store,
            sealer,
            tiktok,
            redirect_uri,
            return_url,
        }
    }

    /// Runs the callback. Nothing is written to the account unless every
    /// step before the write succeeded, so a failure leaves no partial
    /// account.
    #[tracing::instrument(name = "oauth.callback", skip_all, fields(user, account_id))]
    pub async fn complete(
        &self,
        params: CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<AccountId, CallbackError> {
        // The state is consumed first, even on a denial: it is single use.
        let state = params.state.ok_or(CallbackError::InvalidState)?;
        let record = match self.store.consume_state(&state).await {
            Ok(record) => record,
            Err(StoreError::NotFound) => return Err(CallbackError::InvalidState),
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("user", tracing::field::display(&record.user));
        if record.expires_at <= now {
            return Err(CallbackError::StateExpired);
        }
        if let Some(error) = params.error {
            return Err(if error == "access_denied" {
                CallbackError::AccessDenied
            } else {
                CallbackError::AuthorizationFailed(error)
            });
        }
        let code = params.code.ok_or(CallbackError::MissingCode)?;

        let grant = self
            .tiktok
            .exchange_code(&code, &self.redirect_uri, now)
            .await
            .map_err(CallbackError::TokenExchange)?;
        tracing::Span::current().record("account_id", tracing::field::display(&grant.open_id));

        // Tokens we do not keep are dropped, never revoked: revoking ends the
        // TikTok user's whole grant to our app, including a connection that
        // is already stored.
        // TikTok's per-token user-info limit, kept on our side. Like our
        // API, this fails closed: no count, no call.
        if let Decision::Denied { .. } = self
            .store
            .rate_hit(&TIKTOK_USER_INFO, grant.open_id.as_ref(), now)
            .await?
        {
            return Err(CallbackError::RateLimited);
        }
        let info = self
            .tiktok
            .user_info(&grant.tokens.access)
            .await
            .map_err(CallbackError::ProfileFetch)?;
        if info.open_id != grant.open_id {
            return Err(CallbackError::IdentityMismatch);
        }

        let sealed = self.sealer.seal(&grant.open_id, &grant.tokens).await?;
        for _ in 0..CONNECT_ATTEMPTS {
            let existing = self.store.get_account(&grant.open_id).await?;
            let (expected_version, connected_at) =
                match connect_action(existing.as_ref(), &record.user) {
                    ConnectAction::Create => (None, now),
                    ConnectAction::Reconnect { expected_version } => (
                        Some(expected_version),
                        existing.as_ref().map_or(now, |a| a.connected_at),
                    ),
                    ConnectAction::Claim { expected_version } => (Some(expected_version), now),
                    ConnectAction::Refuse => return Err(CallbackError::ConnectedElsewhere),
                };
            let account = Account {
                id: grant.open_id.clone(),
                owner: record.user.clone(),
                profile: info.profile.clone(),
                status: AccountStatus::Active,
                scopes: grant.scopes.clone(),
                access_expires_at: grant.access_expires_at,
                refresh_expires_at: grant.refresh_expires_at,
                last_refreshed_at: None,
                last_error: None,
                connected_at,
                token_version: expected_version.map_or(1, |v| v + 1),
                sealed_tokens: Some(sealed.clone()),
            };
            match self.store.put_account(&account, expected_version).await {
                Ok(()) => {
                    tracing::info!(reconnect = expected_version.is_some(), "account connected");
                    return Ok(account.id);
                }
                Err(StoreError::AlreadyExists | StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CallbackError::Contended)
    }

    /// Where the browser goes afterwards: `APP_RETURN_URL` with
    /// `status=connected&account_id=…` or `status=error&reason=…`.
    pub fn return_location(&self, outcome: &Result<AccountId, CallbackError>) -> Url {
        let mut url = self.return_url.clone();
        {
            let mut query = url.query_pairs_mut();
            match outcome {
                Ok(id) => query
                    .append_pair("status", "connected")
                    .append_pair("account_id", id.as_ref()),
                Err(e) => query
                    .append_pair("status", "error")
                    .append_pair("reason", e.reason()),
            };
        }
        url
    }
}
