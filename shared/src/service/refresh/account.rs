//! Refreshing one account: lease, open, ask TikTok, seal, compare-and-swap.
//! Each step's result goes through a decision in `rules`; this file only
//! carries the decisions out.

use chrono::{DateTime, Utc};

use super::{
    Refresher,
    command::Outcome,
    rules::{self, AfterConflict, AfterStore, AfterTikTok, Failure, FailureKind, Next, Verdict},
};
use crate::{
    domain::{
        account::{Account, AccountStatus},
        ids::AccountId,
        ports::{AccountStore, RefreshLeases, TokenEndpoint, TokenSealer},
        secrets::{RefreshToken, TokenSet},
        tiktok::{TikTokError, TokenGrant},
    },
    support::{backoff::backoff, deadline::Deadline, errors::chain_line},
};

/// Whether a refresh waits for the account to be due.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// Sweep: only if still due at the sweep's start.
    Due(DateTime<Utc>),
    /// A refresh asked for by name: now.
    Forced,
}

impl<S, K, T> Refresher<S, K, T>
where
    S: AccountStore + RefreshLeases,
    K: TokenSealer,
    T: TokenEndpoint,
{
    #[tracing::instrument(name = "refresh.account", skip_all, fields(account_id = %id))]
    pub(super) async fn refresh_account(
        &self,
        id: &AccountId,
        owner: &str,
        mode: Mode,
        deadline: Deadline,
    ) -> Outcome {
        // A sweep starts only what can finish every attempt; a refresh asked
        // for by name starts when one attempt fits, and makes only the
        // further attempts that fit.
        let needed = match mode {
            Mode::Due(_) => self.budget.whole(),
            Mode::Forced => self.budget.least(),
        };
        if !deadline.allows(self.clock.now(), needed) {
            return Outcome::Left;
        }
        let account = match self.lease(id, owner, mode).await {
            Ok(account) => account,
            Err(outcome) => return outcome,
        };
        let sealed = match rules::before_open(&account, self.clock.now()) {
            Next::Go(sealed) => sealed,
            next => return self.carry_out(account, owner, next).await,
        };
        let tokens = match rules::after_open(self.sealer.open(id, &sealed).await) {
            Next::Go(tokens) => tokens,
            next => return self.carry_out(account, owner, next).await,
        };
        match self.call_tiktok(id, &tokens.refresh, deadline).await {
            Verdict::Store(grant) => self.store_grant(account, grant, deadline).await,
            Verdict::Recheck(reason) => {
                let current = self.store.get_account(id).await;
                match rules::after_recheck(current, account.token_version, reason) {
                    Next::Flag(reason) => self.flag(account, reason).await,
                    // The store just failed to answer: the lease lapses.
                    Next::Fail(failure) => Outcome::Failed(failure.detail_line()),
                    Next::Go(()) | Next::Skip => {
                        tracing::info!("token rotated by another writer; nothing to do");
                        Outcome::Skipped
                    }
                }
            }
            Verdict::Fail(failure) => self.fail(id, owner, failure).await,
            Verdict::IdentityMismatch => {
                tracing::error!(
                    alert = "identity_mismatch",
                    "TikTok refreshed a token for another open_id"
                );
                let failure = Failure::new(
                    FailureKind::IdentityMismatch,
                    "TikTok refreshed a token for another open_id",
                );
                self.fail(id, owner, failure).await
            }
        }
    }

    /// Carries out a decision that ends the refresh of a leased account.
    async fn carry_out<X>(&self, account: Account, owner: &str, next: Next<X>) -> Outcome {
        match next {
            Next::Go(_) | Next::Skip => {
                self.release(&account.id, owner).await;
                Outcome::Skipped
            }
            Next::Flag(reason) => self.flag(account, reason).await,
            Next::Fail(failure) => self.fail(&account.id, owner, failure).await,
        }
    }

    pub(super) async fn lease(
        &self,
        id: &AccountId,
        owner: &str,
        mode: Mode,
    ) -> Result<Account, Outcome> {
        let now = self.clock.now();
        let until = now
            + chrono::Duration::from_std(self.settings.lease)
                .unwrap_or(chrono::Duration::minutes(5));
        let due_by = match mode {
            Mode::Due(sweep_start) => Some(sweep_start),
            Mode::Forced => None,
        };
        rules::after_lease(
            self.store
                .acquire_lease(id, owner, now, until, due_by)
                .await,
        )
    }

    /// TikTok's refresh, with bounded retries for transient errors; an
    /// attempt starts only if it, and storing what it returns, fit before
    /// the deadline.
    async fn call_tiktok(
        &self,
        id: &AccountId,
        refresh: &RefreshToken,
        deadline: Deadline,
    ) -> Verdict {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !deadline.allows(self.clock.now(), self.budget.tiktok_attempt(attempt)) {
                return Verdict::Fail(Failure::new(
                    FailureKind::Deadline,
                    format!("no time for TikTok attempt {attempt}"),
                ));
            }
            let answer = self.tiktok.refresh(refresh, self.clock.now()).await;
            let code = answer
                .as_ref()
                .err()
                .map(|e: &TikTokError| e.code().to_owned());
            // TikTok overloaded or failing: fewer refreshes at once.
            match &answer {
                Err(e) if e.is_transient() => self.pressure.congested(),
                _ => self.pressure.answered(),
            }
            match rules::after_tiktok(answer, id, attempt, self.settings.tiktok_attempts) {
                AfterTikTok::Retry => {
                    tracing::debug!(attempt, error = ?code, "transient TikTok error, retrying");
                    tokio::time::sleep(backoff(self.settings.backoff, attempt)).await;
                }
                AfterTikTok::Done(verdict) => return verdict,
            }
        }
    }

    /// TikTok has rotated the refresh token: the new one must not be lost.
    /// Sealing and the compare-and-swap are retried. A lost compare-and-swap
    /// re-reads the account and writes over the newer version unless that
    /// write made ours moot (see `rules::after_conflict`). If the grant
    /// finally cannot be stored, one alert-level line says so (without the
    /// token).
    async fn store_grant(
        &self,
        account: Account,
        grant: TokenGrant,
        deadline: Deadline,
    ) -> Outcome {
        let id = account.id.clone();
        let leased_tokens = account.sealed_tokens.clone();
        let tokens = TokenSet {
            access: grant.tokens.access.clone(),
            refresh: grant.tokens.refresh.clone(),
        };
        // What we write over, and the version the compare-and-swap expects.
        let mut base = account;
        let mut last_error = String::new();
        for attempt in 1..=self.settings.store_attempts {
            if !deadline.allows(self.clock.now(), self.budget.store_attempt(attempt)) {
                last_error = format!("{last_error}; no time for another attempt");
                break;
            }
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
            let refreshed = rules::refreshed(
                &base,
                &grant,
                sealed,
                self.clock.now(),
                self.settings.reauth_lead,
            );
            let result = self
                .store
                .put_account(&refreshed, Some(base.token_version))
                .await;
            match rules::after_store(result) {
                AfterStore::Stored => return Outcome::Refreshed,
                AfterStore::Retry(why) => last_error = why,
                AfterStore::Conflict => {
                    let current = self.store.get_account(&id).await;
                    match rules::after_conflict(current, leased_tokens.as_ref()) {
                        AfterConflict::Rewrite(current) => {
                            tracing::warn!(
                                version = current.token_version,
                                "a newer write kept the rotated-away tokens; storing ours over it"
                            );
                            last_error = "version conflict".into();
                            base = *current;
                        }
                        AfterConflict::KeepTheirs(why) => {
                            tracing::warn!(
                                why,
                                "account changed during refresh; keeping the newer write"
                            );
                            return Outcome::Skipped;
                        }
                        AfterConflict::Retry(why) => last_error = why,
                    }
                }
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

    /// Marks the account `reauth_required` with `reason`, by compare-and-swap
    /// (which also drops it from the due index and releases the lease).
    pub(super) async fn flag(&self, account: Account, reason: String) -> Outcome {
        let expected = account.token_version;
        let result = self
            .store
            .put_account(&rules::flagged(account, &reason), Some(expected))
            .await;
        let outcome = rules::after_flag(result, reason);
        if let Outcome::ReauthRequired(reason) = &outcome {
            tracing::warn!(reason = %reason, "account needs re-authorisation");
        }
        outcome
    }

    /// Records a failure (in the owner's words) and releases the lease; the
    /// account stays active.
    async fn fail(&self, id: &AccountId, owner: &str, failure: Failure) -> Outcome {
        let line = failure.detail_line();
        tracing::warn!(error = %line, "refresh failed; the next sweep retries");
        if let Err(e) = self
            .store
            .record_failure(id, owner, &failure.for_owner())
            .await
        {
            tracing::warn!(error = %chain_line(&e), "could not record the failure; the lease will expire");
        }
        Outcome::Failed(line)
    }

    pub(super) async fn release(&self, id: &AccountId, owner: &str) {
        if let Err(e) = self.store.release_lease(id, owner).await {
            tracing::debug!(error = %chain_line(&e), "lease not released; it will expire");
        }
    }

    /// A dry run's verdict: whether a refresh would be attempted now.
    pub(super) async fn would_refresh(&self, id: &AccountId) -> Outcome {
        match self.store.get_account(id).await {
            Ok(Some(a)) if a.status == AccountStatus::Active && a.sealed_tokens.is_some() => {
                Outcome::Refreshed
            }
            Ok(_) => Outcome::Skipped,
            Err(e) => Outcome::Failed(chain_line(&e)),
        }
    }
}
