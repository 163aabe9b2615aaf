//! TikTok's webhooks (tiktok-api.md §4): the signature is checked
//! ([`signature`]), the event parsed ([`events`]) and applied once however
//! often it arrives. Deliveries are at least once: a delivery is claimed by
//! the SHA-256 of its body (a conditional put), applied, then marked
//! applied; a claim whose applier failed is released so the redelivery
//! applies it.

mod events;
mod signature;

pub use events::{Event, MalformedEvent, concerns_grant, parse_event, removal_reason};
pub use signature::{SignatureError, verify_signature};

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::{
    adapters::{
        store::{Store, events::EventClaim},
        tiktok::settings::TikTokSettings,
    },
    domain::{
        account::{Account, AccountStatus},
        ids::{AccountId, PublishId},
        ports::{AccountStore, StoreError},
        secrets::ClientSecret,
        upload::UploadStatus,
    },
    env::{ConfigError, Env},
    support::{clock::Clock, errors::chain_line, metrics},
};

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Only this app's events are accepted.
    pub client_key: String,
    /// The key of the signature.
    pub client_secret: ClientSecret,
    /// How far a signature's time may be from now
    /// (`WEBHOOK_TOLERANCE_SECONDS`, 30-3600, default 300).
    pub tolerance: Duration,
}

impl WebhookSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let tiktok = TikTokSettings::from_env(env)?;
        Ok(Self {
            client_key: tiktok.client_key,
            client_secret: tiktok.client_secret,
            tolerance: env.seconds("WEBHOOK_TOLERANCE_SECONDS", 300, (30, 3600))?,
        })
    }
}

#[derive(thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Malformed(#[from] MalformedEvent),
    #[error("could not apply the event")]
    Unavailable(#[source] StoreError),
}

impl fmt::Debug for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Applied,
    Duplicate,
}

/// How long a claim waits for its applier before another delivery may
/// take it, and how long applied events are remembered (past TikTok's 72
/// hours of retries).
const CLAIM: chrono::Duration = chrono::Duration::minutes(2);
const REMEMBER: chrono::Duration = chrono::Duration::days(7);

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    settings: WebhookSettings,
    clock: Clock,
}

impl Webhooks {
    pub fn new(store: Store, settings: WebhookSettings, clock: Clock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Verifies, dedupes and applies one delivery.
    #[tracing::instrument(name = "webhook.receive", skip_all)]
    pub async fn receive(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Receipt, WebhookError> {
        let now = self.clock.now();
        verify_signature(
            signature,
            body,
            &self.settings.client_secret,
            now,
            self.settings.tolerance,
        )?;
        let event = parse_event(body, &self.settings.client_key)?;
        let digest = hex::encode(Sha256::digest(body));
        let claim = self
            .store
            .claim_event(&digest, now, now + CLAIM, now + REMEMBER)
            .await
            .map_err(WebhookError::Unavailable)?;
        if claim == EventClaim::Duplicate {
            tracing::info!("duplicate delivery");
            return Ok(Receipt::Duplicate);
        }
        if let Err(e) = self.apply(&event, now).await {
            if let Err(release) = self.store.release_event(&digest).await {
                tracing::warn!(error = %chain_line(&release), "could not release the claim; it lapses on its own");
            }
            return Err(WebhookError::Unavailable(e));
        }
        if let Err(e) = self.store.event_applied(&digest).await {
            // Applying again is harmless; the claim lapses and a
            // redelivery re-applies.
            tracing::warn!(error = %chain_line(&e), "could not mark the event applied");
        }
        Ok(Receipt::Applied)
    }

    async fn apply(&self, event: &Event, now: DateTime<Utc>) -> Result<(), StoreError> {
        match event {
            Event::AuthorizationRemoved {
                account,
                reason,
                created_at,
            } => {
                self.authorization_removed(account, *reason, *created_at)
                    .await
            }
            Event::Published {
                account,
                publish_id,
                public_post_id,
            } => {
                self.settle(account, publish_id, UploadStatus::Published, None, now)
                    .await?;
                match public_post_id {
                    Some(post) => {
                        self.record_public_post(account, publish_id, post, now)
                            .await
                    }
                    None => Ok(()),
                }
            }
            Event::Failed {
                account,
                publish_id,
                reason,
            } => {
                let error = format!("TikTok: {reason}");
                self.settle(account, publish_id, UploadStatus::Failed, Some(&error), now)
                    .await
            }
            Event::Other(name) => {
                tracing::info!(event = %name, "event not handled");
                Ok(())
            }
        }
    }

    /// The grant is gone at TikTok: erase the tokens and mark the account
    /// disconnected (compare-and-swap, retried on a concurrent write). An
    /// event about an older grant (created before the latest connect, and
    /// delivered late: TikTok retries for 72 hours) changes nothing.
    #[tracing::instrument(name = "webhook.authorization_removed", skip_all, fields(account_id = %id, reason))]
    async fn authorization_removed(
        &self,
        id: &AccountId,
        reason: i64,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for _ in 0..5 {
            let Some(account) = self.store.get_account(id).await? else {
                tracing::info!("no such account");
                return Ok(());
            };
            if !concerns_grant(created_at, account.granted_at) {
                tracing::info!("the event predates the current grant; ignored");
                return Ok(());
            }
            if account.status == AccountStatus::Disconnected && account.sealed_tokens.is_none() {
                return Ok(());
            }
            let expected = account.token_version;
            let disconnected = Account {
                last_error: Some(format!(
                    "authorization removed at TikTok: {}",
                    removal_reason(reason)
                )),
                ..account.disconnected()
            };
            match self.store.put_account(&disconnected, Some(expected)).await {
                Ok(()) => {
                    tracing::info!("account disconnected by TikTok");
                    return Ok(());
                }
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::VersionConflict)
    }

    /// Records TikTok's public post id on the upload (or post target)
    /// whose publish it is, so our own videos are recognised later.
    #[tracing::instrument(name = "webhook.public_post", skip_all, fields(publish_id = %publish_id))]
    async fn record_public_post(
        &self,
        account: &AccountId,
        publish_id: &PublishId,
        public_post_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(upload_id) = self.store.upload_of_publish(publish_id).await? else {
            return Ok(());
        };
        let upload = match self.store.get_upload(&upload_id).await? {
            Some(upload) if &upload.account_id == account => upload,
            _ => return Ok(()),
        };
        if self
            .store
            .public_post(&upload, publish_id.as_ref(), public_post_id, now)
            .await?
        {
            tracing::info!(upload_id = %upload_id, "public post id recorded");
        }
        Ok(())
    }

    #[tracing::instrument(name = "webhook.settle", skip_all, fields(publish_id = %publish_id))]
    async fn settle(
        &self,
        account: &AccountId,
        publish_id: &PublishId,
        status: UploadStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(upload_id) = self.store.upload_of_publish(publish_id).await? else {
            tracing::info!("no upload has this publish_id");
            return Ok(());
        };
        let Some(upload) = self.store.get_upload(&upload_id).await? else {
            return Ok(());
        };
        if &upload.account_id != account {
            tracing::warn!(upload_id = %upload_id, "the event's account does not own this publish; ignored");
            return Ok(());
        }
        match self
            .store
            .settle_upload(&upload_id, publish_id, status, error, now)
            .await
        {
            Ok(()) => {
                tracing::info!(upload_id = %upload_id, status = status.as_str(), "upload settled");
                let metric = match status {
                    UploadStatus::Failed => "UploadsFailed",
                    _ => "UploadsPublished",
                };
                metrics::count(("Operation", "publish"), &[(metric, 1)]);
                Ok(())
            }
            // Already final, or on a newer publish_id: nothing to change.
            Err(StoreError::NotLeasable) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
