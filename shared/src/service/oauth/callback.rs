//! The callback: TikTok sends the browser back with a code. The state is
//! consumed (single use, unexpired), the code sealed and kept for the user
//! who started the connect, and the browser sent to the app with a
//! one-time ticket. Nothing is exchanged and no account written here: the
//! signed-in user finishes the connect ([`super::complete`]), so a
//! forwarded authorize URL can never attach one person's TikTok account to
//! another person's user.

use std::time::Duration;

use url::Url;

pub use super::errors::CallbackError;
pub use super::rules::CallbackParams;

use super::rules;
use crate::{
    adapters::{
        kms::KmsSealer,
        store::{Store, connects::ConnectRecord},
        tiktok::{client::TikTokClient, settings::redirect_uri},
    },
    domain::{ports::StoreError, secrets::ConnectTicket},
    env::{ConfigError, Env},
    service::limits::Limiter,
    support::clock::Clock,
};

#[derive(Clone, Debug)]
pub struct CallbackSettings {
    /// The callback URL registered with TikTok; the code exchange repeats it.
    pub redirect_uri: Url,
    /// Where the browser goes afterwards (`APP_RETURN_URL`).
    pub return_url: Url,
    /// How long a ticket may wait for its user (`CONNECT_TICKET_TTL_SECONDS`,
    /// 60-900, default 300: TikTok's codes are short-lived).
    pub ticket_ttl: Duration,
}

impl CallbackSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            redirect_uri: redirect_uri(env)?,
            return_url: env.url("APP_RETURN_URL", None)?,
            ticket_ttl: env.seconds("CONNECT_TICKET_TTL_SECONDS", 300, (60, 900))?,
        })
    }
}

/// The connect's two steps, as oauth-callback serves them: the callback
/// (this file) and the complete ([`super::complete`]).
#[derive(Clone)]
pub struct OAuthCallback {
    pub(super) store: Store,
    pub(super) limiter: Limiter,
    pub(super) sealer: KmsSealer,
    pub(super) tiktok: TikTokClient,
    pub(super) settings: CallbackSettings,
    pub(super) clock: Clock,
}

impl OAuthCallback {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        settings: CallbackSettings,
        clock: Clock,
    ) -> Self {
        Self {
            limiter: Limiter::new(store.clone(), clock.clone()),
            store,
            sealer,
            tiktok,
            settings,
            clock,
        }
    }

    /// Runs the callback: the ticket that finishes the connect.
    #[tracing::instrument(name = "oauth.callback", skip_all, fields(user))]
    pub async fn receive(&self, params: CallbackParams) -> Result<ConnectTicket, CallbackError> {
        // The state is consumed first, even on a denial: it is single use.
        let state = params.state.as_ref().ok_or(CallbackError::InvalidState)?;
        let record = match self.store.consume_state(state).await {
            Ok(record) => record,
            Err(StoreError::NotFound) => return Err(CallbackError::InvalidState),
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("user", tracing::field::display(&record.user));
        let now = self.clock.now();
        let code = rules::code_to_exchange(&record, params, now)?;
        let ticket = ConnectTicket::generate();
        let sealed_code = self.sealer.seal_code(&ticket, &code).await?;
        let expires_at = now
            + chrono::Duration::from_std(self.settings.ticket_ttl)
                .unwrap_or(chrono::Duration::minutes(5));
        let connect = ConnectRecord {
            user: record.user,
            created_at: now,
            expires_at,
            sealed_code,
        };
        self.store.put_connect(&ticket, &connect).await?;
        tracing::info!("connect waiting for its user");
        Ok(ticket)
    }

    /// Where the browser goes afterwards.
    pub fn return_location(&self, outcome: &Result<ConnectTicket, CallbackError>) -> Url {
        rules::return_location(&self.settings.return_url, outcome)
    }
}
