//! Token refresh: the sweep that refreshes every due account exactly once,
//! a one-account refresh, dry runs, and cleanup.
//!
//! Per account: take the lease (a conditional write that also returns the
//! account), open the tokens, call TikTok, seal the new tokens, and
//! compare-and-swap them in. The compare-and-swap on `token_version`, not the
//! lease, is what guarantees no lost or double write; the lease only keeps
//! two sweeps from spending the same refresh token (TikTok rotates it
//! strictly: the second would get `invalid_grant`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::{
    account::{Account, AccountId, AccountStatus, DUE_SHARDS, rfc3339},
    error::chain_line,
    store::{Store, StoreError},
    tiktok::{TikTokClient, TikTokError, TokenGrant},
    tokens::{KmsSealer, RefreshToken, SealError, SealedTokens, TokenSet},
};

/// Tunables, validated at cold start (see `config::RefreshConfig`).
#[derive(Clone, Debug)]
pub struct RefreshSettings {
    /// Accounts refreshed at once.
    pub concurrency: usize,
    /// How long a lease lasts; must outlive the worst-case refresh.
    pub lease: Duration,
    /// Attempts at TikTok's token endpoint for transient errors.
    pub tiktok_attempts: u32,
    /// Attempts at storing new tokens (the SDK retries inside each).
    pub store_attempts: u32,
    /// First backoff; doubles per attempt, with jitter.
    pub backoff: Duration,
    /// Warn this long before the refresh token itself expires.
    pub reauth_lead: Duration,
    /// Due-index page size.
    pub page_size: i32,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            lease: Duration::from_secs(300),
            tiktok_attempts: 3,
            store_attempts: 5,
            backoff: Duration::from_millis(250),
            reauth_lead: Duration::from_secs(7 * 24 * 3600),
            page_size: 100,
        }
    }
}

/// What the function was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Sweep {
        #[serde(default)]
        dry_run: bool,
    },
    Refresh {
        account_id: String,
        #[serde(default)]
        dry_run: bool,
    },
    Cleanup,
}

#[derive(Debug, thiserror::Error)]
#[error("unrecognised token-refresh input: {0}")]
pub struct InvalidCommand(String);

impl Command {
    /// An EventBridge scheduled event means a sweep; otherwise the input
    /// must name an action.
    pub fn from_event(event: &serde_json::Value) -> Result<Self, InvalidCommand> {
        if event.get("action").is_some() {
            return serde_json::from_value(event.clone())
                .map_err(|e| InvalidCommand(e.to_string()));
        }
        let scheduled = event.get("detail-type").and_then(|v| v.as_str())
            == Some("Scheduled Event")
            || event.get("source").and_then(|v| v.as_str()) == Some("aws.events");
        if scheduled {
            Ok(Self::Sweep { dry_run: false })
        } else {
            Err(InvalidCommand(
                "expected a scheduled event or an \"action\"".into(),
            ))
        }
    }
}

/// The most error entries a summary carries, so its size stays bounded
/// however many accounts fail.
pub const MAX_SUMMARY_ERRORS: usize = 100;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountError {
    pub account_id: String,
    pub error: String,
}

/// What a run did. Never carries a token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub action: &'static str,
    pub dry_run: bool,
    pub due: u64,
    pub refreshed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub reauth_required: u64,
    pub errors: Vec<AccountError>,
}

impl Summary {
    fn new(action: &'static str, dry_run: bool) -> Self {
        Self {
            action,
            dry_run,
            due: 0,
            refreshed: 0,
            skipped: 0,
            failed: 0,
            reauth_required: 0,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, account_id: String, error: String) {
        if self.errors.len() < MAX_SUMMARY_ERRORS {
            self.errors.push(AccountError { account_id, error });
        }
    }

    /// A due-index page that could not be read.
    fn shard_error(&mut self, shard: u32, e: &StoreError) {
        self.error(format!("due-shard-{shard}"), chain_line(e));
    }

    fn record(&mut self, id: &AccountId, outcome: Outcome) {
        match outcome {
            Outcome::Refreshed => self.refreshed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed(error) => {
                self.failed += 1;
                self.error(id.to_string(), error);
            }
            Outcome::ReauthRequired(reason) => {
                self.reauth_required += 1;
                self.error(id.to_string(), reason);
            }
        }
    }
}

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    /// Not ours to refresh now: leased elsewhere, no longer due, not active,
    /// or another writer stored newer tokens first.
    Skipped,
    /// Transient or unexpected; the account stays active for the next sweep.
    Failed(String),
    ReauthRequired(String),
}

#[derive(Clone)]
pub struct Refresher {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    settings: RefreshSettings,
}

/// Whether a refresh waits for the account to be due.
#[derive(Clone, Copy)]
enum Mode {
    /// Sweep: only if still due at the sweep's start.
    Due(DateTime<Utc>),
    /// A refresh asked for by name: now.
    Forced,
}

impl Refresher {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        settings: RefreshSettings,
    ) -> Self {
        Self {
            store,
            sealer,
            tiktok,
            settings,
        }
    }

    /// Runs a command and reports its counts as metrics. Each run has its
    /// own lease owner id.
    pub async fn run(&self, command: Command) -> Summary {
        let summary = self.execute(command).await;
        if !summary.dry_run {
            crate::metrics::count(
                ("Operation", summary.action),
                &[
                    ("Due", summary.due),
                    ("Refreshed", summary.refreshed),
                    ("RefreshSkipped", summary.skipped),
                    ("RefreshFailed", summary.failed),
                    ("ReauthRequired", summary.reauth_required),
                ],
            );
        }
        summary
    }

    async fn execute(&self, command: Command) -> Summary {
        let owner = lease_owner();
        let now = Utc::now();
        match command {
            Command::Sweep { dry_run } => self.sweep(&owner, now, dry_run).await,
            Command::Refresh {
                account_id,
                dry_run,
            } => {
                let mut summary = Summary::new("refresh", dry_run);
                let id = match AccountId::parse(account_id.clone()) {
                    Ok(id) => id,
                    Err(e) => {
                        summary.failed += 1;
                        summary.error(account_id, e.to_string());
                        return summary;
                    }
                };
                summary.due = 1;
                let outcome = if dry_run {
                    self.would_refresh(&id).await
                } else {
                    self.refresh_account(&id, &owner, Mode::Forced).await
                };
                summary.record(&id, outcome);
                summary
            }
            Command::Cleanup => self.cleanup(&owner, now).await,
        }
    }

    /// Refreshes one account now, through the same exactly-once path as the
    /// sweep.
    pub async fn refresh_now(&self, id: &AccountId) -> Outcome {
        self.refresh_account(id, &lease_owner(), Mode::Forced).await
    }

    /// Every account id due at `now`, over all shards at once, page by page:
    /// memory holds one page per shard, whatever the number of accounts.
    fn due_ids(
        &self,
        now: DateTime<Utc>,
    ) -> impl Stream<Item = Result<AccountId, (u32, StoreError)>> + '_ {
        stream::select_all((0..DUE_SHARDS).map(move |shard| Box::pin(self.shard_ids(shard, now))))
    }

    fn shard_ids(
        &self,
        shard: u32,
        now: DateTime<Utc>,
    ) -> impl Stream<Item = Result<AccountId, (u32, StoreError)>> + '_ {
        // State: Some(start key) while there are pages left; the first page
        // starts from None.
        stream::unfold(Some(None), move |state| async move {
            let start = state?;
            match self
                .store
                .due_page(shard, now, self.settings.page_size, start)
                .await
            {
                Ok(page) => {
                    let next = page.next.map(Some);
                    Some((
                        stream::iter(page.ids.into_iter().map(Ok)).left_stream(),
                        next,
                    ))
                }
                Err(e) => Some((stream::iter([Err((shard, e))]).right_stream(), None)),
            }
        })
        .flatten()
    }

    #[tracing::instrument(name = "refresh.sweep", skip_all, fields(dry_run))]
    async fn sweep(&self, owner: &str, now: DateTime<Utc>, dry_run: bool) -> Summary {
        let summary = Summary::new("sweep", dry_run);
        let summary = if dry_run {
            self.due_ids(now)
                .fold(summary, |mut summary, item| async move {
                    match item {
                        Ok(_) => summary.due += 1,
                        Err((shard, e)) => summary.shard_error(shard, &e),
                    }
                    summary
                })
                .await
        } else {
            self.for_each_due(now, summary, |id| async move {
                self.refresh_account(&id, owner, Mode::Due(now)).await
            })
            .await
        };
        tracing::info!(
            due = summary.due,
            refreshed = summary.refreshed,
            skipped = summary.skipped,
            failed = summary.failed,
            reauth_required = summary.reauth_required,
            "sweep finished"
        );
        summary
    }

    /// Flags overdue accounts whose refresh token has expired, so they show
    /// `reauth_required` instead of sitting in the due index.
    #[tracing::instrument(name = "refresh.cleanup", skip_all)]
    async fn cleanup(&self, owner: &str, now: DateTime<Utc>) -> Summary {
        self.for_each_due(now, Summary::new("cleanup", false), |id| async move {
            match self.lease(&id, owner, Mode::Due(now)).await {
                Err(outcome) => outcome,
                Ok(account) if account.refresh_expires_at <= Utc::now() => {
                    self.flag(account, "refresh_token_expired".into()).await
                }
                Ok(account) => {
                    self.release(&account.id, owner).await;
                    Outcome::Skipped
                }
            }
        })
        .await
    }

    /// Runs `work` on every account due at `now`, `concurrency` at a time,
    /// and counts the outcomes into `summary`.
    async fn for_each_due<F, Fut>(&self, now: DateTime<Utc>, summary: Summary, work: F) -> Summary
    where
        F: Fn(AccountId) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let work = &work;
        self.due_ids(now)
            .map(|item| async move {
                let id = item?;
                let outcome = work(id.clone()).await;
                Ok((id, outcome))
            })
            .buffer_unordered(self.settings.concurrency)
            .fold(summary, |mut summary, item| async move {
                match item {
                    Ok((id, outcome)) => {
                        summary.due += 1;
                        summary.record(&id, outcome);
                    }
                    Err((shard, e)) => summary.shard_error(shard, &e),
                }
                summary
            })
            .await
    }

    async fn would_refresh(&self, id: &AccountId) -> Outcome {
        match self.store.get_account(id).await {
            Ok(Some(a)) if a.status == AccountStatus::Active && a.sealed_tokens.is_some() => {
                Outcome::Refreshed
            }
            Ok(_) => Outcome::Skipped,
            Err(e) => Outcome::Failed(chain_line(&e)),
        }
    }

    async fn lease(&self, id: &AccountId, owner: &str, mode: Mode) -> Result<Account, Outcome> {
        let now = Utc::now();
        let until = now
            + chrono::Duration::from_std(self.settings.lease)
                .unwrap_or(chrono::Duration::minutes(5));
        let due_by = match mode {
            Mode::Due(sweep_start) => Some(sweep_start),
            Mode::Forced => None,
        };
        match self
            .store
            .acquire_lease(id, owner, now, until, due_by)
            .await
        {
            Ok(account) => Ok(account),
            Err(StoreError::NotLeasable) => Err(Outcome::Skipped),
            Err(e) => Err(Outcome::Failed(format!("lease: {}", chain_line(&e)))),
        }
    }

    #[tracing::instrument(name = "refresh.account", skip_all, fields(account_id = %id))]
    async fn refresh_account(&self, id: &AccountId, owner: &str, mode: Mode) -> Outcome {
        let account = match self.lease(id, owner, mode).await {
            Ok(account) => account,
            Err(outcome) => return outcome,
        };
        let Some(sealed) = account.sealed_tokens.clone() else {
            self.release(id, owner).await;
            return Outcome::Skipped;
        };
        if account.refresh_expires_at <= Utc::now() {
            return self.flag(account, "refresh_token_expired".into()).await;
        }
        let tokens = match self.sealer.open(id, &sealed).await {
            Ok(tokens) => tokens,
            Err(SealError::Rejected) => {
                return self.flag(account, "sealed_tokens_rejected".into()).await;
            }
            Err(e) => {
                return self
                    .fail(id, owner, format!("kms: {}", chain_line(&e)))
                    .await;
            }
        };
        let grant = match self.call_tiktok(&tokens.refresh).await {
            Ok(grant) => grant,
            Err(e) if e.is_invalid_grant() => return self.on_invalid_grant(account, &e).await,
            Err(e) => return self.fail(id, owner, format!("{}: {e}", e.code())).await,
        };
        if &grant.open_id != id {
            tracing::error!(
                alert = "identity_mismatch",
                "TikTok refreshed a token for another open_id"
            );
            return self.fail(id, owner, "identity_mismatch".into()).await;
        }
        self.store_grant(account, grant).await
    }

    /// TikTok's refresh with bounded retries for transient errors.
    async fn call_tiktok(&self, refresh: &RefreshToken) -> Result<TokenGrant, TikTokError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.tiktok.refresh(refresh, Utc::now()).await {
                Err(e) if e.is_transient() && attempt < self.settings.tiktok_attempts => {
                    tracing::debug!(
                        attempt,
                        error = e.code(),
                        "transient TikTok error, retrying"
                    );
                    tokio::time::sleep(backoff(self.settings.backoff, attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// TikTok has rotated the refresh token: the new one must not be lost.
    /// Sealing and the compare-and-swap are retried; if they finally fail,
    /// one alert-level line says so (without the token).
    async fn store_grant(&self, account: Account, grant: TokenGrant) -> Outcome {
        let id = account.id.clone();
        let expected = account.token_version;
        let tokens = TokenSet {
            access: grant.tokens.access.clone(),
            refresh: grant.tokens.refresh.clone(),
        };
        let mut last_error = String::new();
        for attempt in 1..=self.settings.store_attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff(self.settings.backoff, attempt - 1)).await;
            }
            let sealed = match self.sealer.seal(&id, &tokens).await {
                Ok(sealed) => sealed,
                Err(e) => {
                    last_error = format!("kms: {}", chain_line(&e));
                    continue;
                }
            };
            let refreshed = self.refreshed_account(&account, &grant, sealed);
            match self.store.put_account(&refreshed, Some(expected)).await {
                Ok(()) => return Outcome::Refreshed,
                Err(StoreError::VersionConflict) => {
                    // Another writer (a reconnect) stored newer tokens first.
                    tracing::warn!("account changed during refresh; keeping the newer tokens");
                    return Outcome::Skipped;
                }
                Err(e) => last_error = format!("store: {}", chain_line(&e)),
            }
        }
        tracing::error!(
            alert = "rotated_refresh_token_not_stored",
            account_id = %id,
            error = %last_error,
            "ALERT: TikTok rotated this account's refresh token but it could not be stored; \
             the account will need re-authorisation"
        );
        Outcome::Failed(format!("rotated token not stored: {last_error}"))
    }

    fn refreshed_account(
        &self,
        account: &Account,
        grant: &TokenGrant,
        sealed: SealedTokens,
    ) -> Account {
        let now = Utc::now();
        let lead = chrono::Duration::from_std(self.settings.reauth_lead).unwrap_or_default();
        let warning = (grant.refresh_expires_at <= now + lead).then(|| {
            format!(
                "refresh_token_expiring: reconnect before {}",
                rfc3339(grant.refresh_expires_at)
            )
        });
        Account {
            status: AccountStatus::Active,
            scopes: grant.scopes.clone(),
            access_expires_at: grant.access_expires_at,
            refresh_expires_at: grant.refresh_expires_at,
            last_refreshed_at: Some(now),
            last_error: warning,
            token_version: account.token_version + 1,
            sealed_tokens: Some(sealed),
            ..account.clone()
        }
    }

    /// `invalid_grant`: first re-read, since another writer may have rotated
    /// the token (then its tokens are newer than ours); only if nothing
    /// changed is the account marked `reauth_required`.
    async fn on_invalid_grant(&self, account: Account, error: &TikTokError) -> Outcome {
        match self.store.get_account(&account.id).await {
            Ok(Some(current)) if current.token_version != account.token_version => {
                tracing::info!("token rotated by another writer; nothing to do");
                Outcome::Skipped
            }
            Ok(Some(_)) => {
                let detail = match error {
                    TikTokError::OAuth { description, .. } if !description.is_empty() => {
                        format!("invalid_grant: {description}")
                    }
                    _ => "invalid_grant".to_owned(),
                };
                self.flag(account, detail).await
            }
            Ok(None) => Outcome::Skipped,
            Err(e) => Outcome::Failed(format!("re-read: {}", chain_line(&e))),
        }
    }

    /// Marks the account `reauth_required` with `reason`, by compare-and-swap
    /// (which also drops it from the due index and releases the lease).
    async fn flag(&self, account: Account, reason: String) -> Outcome {
        let expected = account.token_version;
        let flagged = Account {
            status: AccountStatus::ReauthRequired,
            last_error: Some(reason.clone()),
            token_version: expected + 1,
            ..account
        };
        match self.store.put_account(&flagged, Some(expected)).await {
            Ok(()) => {
                tracing::warn!(reason = %reason, "account needs re-authorisation");
                Outcome::ReauthRequired(reason)
            }
            Err(StoreError::VersionConflict) => Outcome::Skipped,
            Err(e) => Outcome::Failed(format!("flag: {}", chain_line(&e))),
        }
    }

    /// Records a failure and releases the lease; the account stays active.
    async fn fail(&self, id: &AccountId, owner: &str, error: String) -> Outcome {
        tracing::warn!(error = %error, "refresh failed; the next sweep retries");
        if let Err(e) = self.store.record_failure(id, owner, &error).await {
            tracing::warn!(error = %chain_line(&e), "could not record the failure; the lease will expire");
        }
        Outcome::Failed(error)
    }

    async fn release(&self, id: &AccountId, owner: &str) {
        if let Err(e) = self.store.release_lease(id, owner).await {
            tracing::debug!(error = %chain_line(&e), "lease not released; it will expire");
        }
    }
}

/// A fresh lease owner id per run.
fn lease_owner() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    format!("refresh-{}", hex::encode(bytes))
}

/// Exponential backoff with jitter: half the doubled delay, plus a random
/// share of the other half, capped at 10 s.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(10));
    let half = capped / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_events() {
        let scheduled = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "1", "time": "2026-11-23T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(
            Command::from_event(&scheduled).unwrap(),
            Command::Sweep { dry_run: false }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "sweep", "dry_run": true})).unwrap(),
            Command::Sweep { dry_run: true }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "refresh", "account_id": "a"})).unwrap(),
            Command::Refresh {
                account_id: "a".into(),
                dry_run: false
            }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "cleanup"})).unwrap(),
            Command::Cleanup
        );
        assert!(Command::from_event(&json!({"action": "explode"})).is_err());
        assert!(Command::from_event(&json!({"action": "refresh"})).is_err());
        assert!(Command::from_event(&json!({"hello": 1})).is_err());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let d = backoff(base, attempt);
            let full = base * (1 << (attempt - 1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= Duration::from_secs(10));
    }

    #[test]
    fn summary_errors_are_bounded() {
        let mut s = Summary::new("sweep", false);
        let id = AccountId::parse("a").unwrap();
        for _ in 0..(MAX_SUMMARY_ERRORS + 50) {
            s.record(&id, Outcome::Failed("x".into()));
        }
        assert_eq!(s.failed as usize, MAX_SUMMARY_ERRORS + 50);
        assert_eq!(s.errors.len(), MAX_SUMMARY_ERRORS);
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "action",
            "dry_run",
            "due",
            "refreshed",
            "skipped",
            "failed",
            "reauth_required",
            "errors",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
