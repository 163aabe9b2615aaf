//! TikTok's webhooks (tiktok-api.md §4): the `TikTok-Signature` check, the
//! events we act on, and applying them once however often they arrive.
//!
//! The signature is HMAC-SHA256 with the client secret over `"{t}.{body}"`,
//! checked on the raw body before any parsing, compared in constant time,
//! and `t` must be within the tolerance of now. Deliveries are at least
//! once: a delivery is claimed by the SHA-256 of its body (a conditional
//! put), applied, then marked applied; a claim whose applier failed is
//! released so the redelivery applies it.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    account::{Account, AccountId, AccountStatus},
    error::chain_line,
    store::{EventClaim, Store, StoreError},
    tokens::ClientSecret,
    upload::{PublishId, UploadStatus},
};

/// Why a signature is refused. All answer 401; the reason goes to the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no TikTok-Signature header")]
    Missing,
    #[error("the TikTok-Signature header is malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

/// Checks `TikTok-Signature: t=<unix>,s=<hex>` against the raw body.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &ClientSecret,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("s", s)) => {
                signatures.push(hex::decode(s).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    let matched = signatures
        .iter()
        .any(|s| mac.clone().verify_slice(s).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now.timestamp() - timestamp).unsigned_abs() > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The events we act on; the rest are acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The user (or TikTok, or we) ended the authorization; its tokens are
    /// already revoked.
    AuthorizationRemoved {
        account: AccountId,
        reason: i64,
    },
    /// `post.publish.complete`, `post.publish.inbox_delivered` and
    /// `post.publish.publicly_available`: the post is done on TikTok's side.
    Published {
        account: AccountId,
        publish_id: PublishId,
    },
    Failed {
        account: AccountId,
        publish_id: PublishId,
        reason: String,
    },
    Other(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the webhook body is not a TikTok event: {0}")]
pub struct MalformedEvent(String);

#[derive(Deserialize)]
struct Envelope {
    client_key: String,
    event: String,
    user_openid: String,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct PostContent {
    publish_id: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct AuthContent {
    #[serde(default)]
    reason: i64,
}

/// Parses a verified body; `client_key` must be ours.
pub fn parse_event(body: &[u8], client_key: &str) -> Result<Event, MalformedEvent> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| MalformedEvent(e.to_string()))?;
    if envelope.client_key != client_key {
        return Err(MalformedEvent("client_key is not this app's".into()));
    }
    let account = || {
        AccountId::parse(envelope.user_openid.clone())
            .map_err(|e| MalformedEvent(format!("user_openid: {e}")))
    };
    let post = || -> Result<(PublishId, Option<String>), MalformedEvent> {
        let content: PostContent = serde_json::from_str(&envelope.content)
            .map_err(|e| MalformedEvent(format!("content: {e}")))?;
        let publish_id = PublishId::parse(&content.publish_id)
            .ok_or_else(|| MalformedEvent("content.publish_id".into()))?;
        Ok((publish_id, content.reason))
    };
    Ok(match envelope.event.as_str() {
        "authorization.removed" => {
            let content: AuthContent = serde_json::from_str(&envelope.content)
                .map_err(|e| MalformedEvent(format!("content: {e}")))?;
            Event::AuthorizationRemoved {
                account: account()?,
                reason: content.reason,
            }
        }
        "post.publish.complete"
        | "post.publish.inbox_delivered"
        | "post.publish.publicly_available" => Event::Published {
            account: account()?,
            publish_id: post()?.0,
        },
        "post.publish.failed" => {
            let (publish_id, reason) = post()?;
            Event::Failed {
                account: account()?,
                publish_id,
                reason: reason.unwrap_or_else(|| "failed".into()),
            }
        }
        other => Event::Other(other.to_owned()),
    })
}

/// What `authorization.removed`'s reason codes mean.
pub fn removal_reason(reason: i64) -> &'static str {
    match reason {
        1 => "the user disconnected the app in TikTok",
        2 => "the TikTok account was deleted",
        3 => "the user's age changed",
        4 => "the TikTok account was banned",
        5 => "the app revoked the authorization",
        _ => "unknown reason",
    }
}

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub client_key: String,
    pub client_secret: ClientSecret,
    pub tolerance: Duration,
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
        crate::error::error_chain_fmt(self, f)
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
}

impl Webhooks {
    pub fn new(store: Store, settings: WebhookSettings) -> Self {
        Self { store, settings }
    }

    /// Verifies, dedupes and applies one delivery.
    #[tracing::instrument(name = "webhook.receive", skip_all)]
    pub async fn receive(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Receipt, WebhookError> {
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
            Event::AuthorizationRemoved { account, reason } => {
                self.authorization_removed(account, *reason).await
            }
            Event::Published {
                account,
                publish_id,
            } => {
                self.settle(account, publish_id, UploadStatus::Published, None, now)
                    .await
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
    /// disconnected (compare-and-swap, retried on a concurrent write).
    #[tracing::instrument(name = "webhook.authorization_removed", skip_all, fields(account_id = %id, reason))]
    async fn authorization_removed(&self, id: &AccountId, reason: i64) -> Result<(), StoreError> {
        for _ in 0..5 {
            let Some(account) = self.store.get_account(id).await? else {
                tracing::info!("no such account");
                return Ok(());
            };
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
                crate::metrics::count(("Operation", "publish"), &[(metric, 1)]);
                Ok(())
            }
            // Already final, or on a newer publish_id: nothing to change.
            Err(StoreError::NotLeasable) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},s={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body_and_time() {
        let secret = ClientSecret::parse("shh-secret").unwrap();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let body = br#"{"event":"x"}"#;
        let tol = Duration::from_secs(300);
        let good = sign("shh-secret", now.timestamp() - 10, body);
        assert_eq!(
            verify_signature(Some(&good), body, &secret, now, tol),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&good), br#"{"event":"y"}"#, &secret, now, tol),
            Err(SignatureError::Mismatch)
        );
        let other_secret = sign("other", now.timestamp(), body);
        assert_eq!(
            verify_signature(Some(&other_secret), body, &secret, now, tol),
            Err(SignatureError::Mismatch)
        );
        let stale = sign("shh-secret", now.timestamp() - 301, body);
        assert_eq!(
            verify_signature(Some(&stale), body, &secret, now, tol),
            Err(SignatureError::Stale)
        );
        let future = sign("shh-secret", now.timestamp() + 301, body);
        assert_eq!(
            verify_signature(Some(&future), body, &secret, now, tol),
            Err(SignatureError::Stale)
        );
        for malformed in ["", "t=abc,s=00", "s=00", "t=1", "t=1,s=zz"] {
            assert_eq!(
                verify_signature(Some(malformed), body, &secret, now, tol),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(
            verify_signature(None, body, &secret, now, tol),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn events_parse() {
        let body = |event: &str, content: &str| {
            serde_json::json!({
                "client_key": "ck", "event": event, "create_time": 1,
                "user_openid": "open-1", "content": content
            })
            .to_string()
        };
        let open = AccountId::parse("open-1").unwrap();
        assert_eq!(
            parse_event(
                body("authorization.removed", r#"{"reason": 1}"#).as_bytes(),
                "ck"
            ),
            Ok(Event::AuthorizationRemoved {
                account: open.clone(),
                reason: 1
            })
        );
        let pid = PublishId::parse("v_pub_file~v2-1.1").unwrap();
        assert_eq!(
            parse_event(
                body(
                    "post.publish.complete",
                    r#"{"publish_id":"v_pub_file~v2-1.1","publish_type":"DIRECT_PUBLISH"}"#
                )
                .as_bytes(),
                "ck"
            ),
            Ok(Event::Published {
                account: open.clone(),
                publish_id: pid.clone()
            })
        );
        assert_eq!(
            parse_event(
                body(
                    "post.publish.failed",
                    r#"{"publish_id":"v_pub_file~v2-1.1","reason":"spam_risk"}"#
                )
                .as_bytes(),
                "ck"
            ),
            Ok(Event::Failed {
                account: open,
                publish_id: pid,
                reason: "spam_risk".into()
            })
        );
        assert_eq!(
            parse_event(body("video.publish.completed", "{}").as_bytes(), "ck"),
            Ok(Event::Other("video.publish.completed".into()))
        );
        assert!(parse_event(body("post.publish.complete", "{}").as_bytes(), "ck").is_err());
        assert!(parse_event(body("authorization.removed", "{}").as_bytes(), "other").is_err());
        assert!(parse_event(b"not json", "ck").is_err());
    }
}
