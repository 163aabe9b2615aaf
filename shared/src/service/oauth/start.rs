//! Starting a connect: one fresh, unguessable, single-use state per call,
//! and TikTok's authorize URL carrying it.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use url::Url;

use crate::{
    adapters::{
        store::{Store, states::StateRecord},
        tiktok::{oauth::authorize_url, settings::AuthorizeSettings},
    },
    domain::{ids::UserId, ports::StoreError, ratelimit::RateLimit, secrets::OAuthState},
    env::{ConfigError, Env},
    service::limits::{LimitError, Limiter},
    support::clock::Clock,
};

/// OAuth connects started, per user.
pub const OAUTH_STARTS_PER_USER: RateLimit = RateLimit {
    scope: "oauth-start",
    max: 20,
    window: Duration::from_secs(600),
};

#[derive(Clone, Debug)]
pub struct StartSettings {
    /// How long a started connect may take to come back
    /// (`OAUTH_STATE_TTL_SECONDS`, 60-3600, default 600).
    pub state_ttl: Duration,
}

impl StartSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            state_ttl: env.seconds("OAUTH_STATE_TTL_SECONDS", 600, (60, 3600))?,
        })
    }
}

/// Where to send the browser, and until when the flow may complete.
#[derive(Debug, Clone)]
pub struct AuthorizeRedirect {
    pub authorize_url: Url,
    pub expires_at: DateTime<Utc>,
}

#[derive(thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("could not record the OAuth state")]
    Store(#[from] StoreError),
}

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

#[derive(Clone)]
pub struct OAuthStart {
    store: Store,
    limiter: Limiter,
    authorize: AuthorizeSettings,
    settings: StartSettings,
    clock: Clock,
}

impl OAuthStart {
    pub fn new(
        store: Store,
        authorize: AuthorizeSettings,
        settings: StartSettings,
        clock: Clock,
    ) -> Self {
        Self {
            limiter: Limiter::new(store.clone(), clock.clone()),
            store,
            authorize,
            settings,
            clock,
        }
    }

    #[tracing::instrument(name = "oauth.start", skip_all, fields(user = %user))]
    pub async fn begin(&self, user: &UserId) -> Result<AuthorizeRedirect, StartError> {
        self.limiter
            .admit(&OAUTH_STARTS_PER_USER, user.as_ref())
            .await?;
        let now = self.clock.now();
        let state = OAuthState::generate();
        let expires_at = now
            + chrono::Duration::from_std(self.settings.state_ttl)
                .unwrap_or(chrono::Duration::minutes(10));
        let record = StateRecord {
            user: user.clone(),
            created_at: now,
            expires_at,
        };
        self.store.put_state(&state, &record).await?;
        tracing::info!("oauth flow started");
        Ok(AuthorizeRedirect {
            authorize_url: authorize_url(&self.authorize, &state),
            expires_at,
        })
    }
}
