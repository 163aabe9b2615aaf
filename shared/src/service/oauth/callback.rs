//! Completing a connect: consume the state, exchange the code, fetch the
//! profile, seal the tokens and write the account (each decision in
//! `rules`). Nothing is written to
//! the account unless every step before the write succeeded, so a failure
//! leaves no partial account.

use url::Url;

pub use super::rules::{CallbackError, CallbackParams};

use super::rules;
use crate::{
    adapters::{
        kms::KmsSealer,
        store::Store,
        tiktok::{client::TikTokClient, settings::redirect_uri},
    },
    domain::{
        ids::AccountId,
        ports::{AccountStore, StoreError, TokenSealer},
        ratelimit::TIKTOK_USER_INFO,
    },
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
}

impl CallbackSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            redirect_uri: redirect_uri(env)?,
            return_url: env.url("APP_RETURN_URL", None)?,
        })
    }
}

/// Completes connects.
#[derive(Clone)]
pub struct OAuthCallback {
    store: Store,
    limiter: Limiter,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    settings: CallbackSettings,
    clock: Clock,
}

/// How many times a connect re-reads and retries when another writer
/// changes the account between its read and its compare-and-swap.
const CONNECT_ATTEMPTS: usize = 3;

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

    /// Runs the callback.
    #[tracing::instrument(name = "oauth.callback", skip_all, fields(user, account_id))]
    pub async fn complete(&self, params: CallbackParams) -> Result<AccountId, CallbackError> {
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

        let grant = self
            .tiktok
            .exchange_code(&code, &self.settings.redirect_uri, now)
            .await
            .map_err(CallbackError::TokenExchange)?;
        tracing::Span::current().record("account_id", tracing::field::display(&grant.open_id));

        // Tokens we do not keep are dropped, never revoked: revoking ends the
        // TikTok user's whole grant to our app, including a connection that
        // is already stored.
        // TikTok's per-token user-info limit, kept on our side. Like our
        // API, this fails closed: no count, no call.
        self.limiter
            .admit(&TIKTOK_USER_INFO, grant.open_id.as_ref())
            .await?;
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
            let (account, expected_version) = rules::connected_account(
                existing.as_ref(),
                &record.user,
                &grant,
                &info,
                &sealed,
                now,
            )?;
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
        rules::return_location(&self.settings.return_url, outcome)
    }
}
