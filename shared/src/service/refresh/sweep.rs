//! The sweep over every due account, and cleanup: the due index read shard
//! by shard, page by page, with bounded concurrency and constant memory in
//! the number of accounts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};

use super::{
    Refresher,
    account::Mode,
    command::{Outcome, Summary},
    rules::{self, Next},
};
use crate::{
    domain::{
        ids::AccountId,
        ports::{AccountStore, RefreshLeases, StoreError, TokenEndpoint, TokenSealer},
        schedule::DUE_SHARDS,
    },
    support::deadline::Deadline,
};

impl<S, K, T> Refresher<S, K, T>
where
    S: AccountStore + RefreshLeases,
    K: TokenSealer,
    T: TokenEndpoint,
{
    /// Every account id due at `now`, over all shards at once, page by page:
    /// memory holds one page per shard, whatever the number of accounts.
    /// No page is read once the work no longer fits before `deadline`
    /// (`needed` each).
    fn due_ids(
        &self,
        now: DateTime<Utc>,
        deadline: Deadline,
        needed: Duration,
    ) -> impl Stream<Item = Result<AccountId, (u32, StoreError)>> + '_ {
        stream::select_all(
            (0..DUE_SHARDS)
                .map(move |shard| Box::pin(self.shard_ids(shard, now, deadline, needed))),
        )
    }

    fn shard_ids(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        deadline: Deadline,
        needed: Duration,
    ) -> impl Stream<Item = Result<AccountId, (u32, StoreError)>> + '_ {
        // State: Some(start) while there are pages left; the first page
        // starts from None.
        stream::unfold(Some(None), move |state| async move {
            let start = state?;
            if !deadline.allows(self.clock.now(), needed) {
                return None;
            }
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
    pub(super) async fn sweep(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        dry_run: bool,
        deadline: Deadline,
    ) -> Summary {
        let summary = Summary::new("sweep", dry_run);
        let summary = if dry_run {
            self.due_ids(now, deadline, Duration::ZERO)
                .fold(summary, |mut summary, item| async move {
                    match item {
                        Ok(_) => summary.due += 1,
                        Err((shard, e)) => summary.shard_error(shard, &e),
                    }
                    summary
                })
                .await
        } else {
            let needed = self.budget.whole();
            self.for_each_due(now, summary, (deadline, needed), |id| async move {
                self.refresh_account(&id, owner, Mode::Due(now), deadline)
                    .await
            })
            .await
        };
        tracing::info!(
            due = summary.due,
            refreshed = summary.refreshed,
            skipped = summary.skipped,
            failed = summary.failed,
            reauth_required = summary.reauth_required,
            left = summary.left,
            "sweep finished"
        );
        summary
    }

    /// Flags overdue accounts whose refresh token has expired, so they show
    /// `reauth_required` instead of sitting in the due index.
    #[tracing::instrument(name = "refresh.cleanup", skip_all)]
    pub(super) async fn cleanup(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        deadline: Deadline,
    ) -> Summary {
        let needed = self.budget.cleanup();
        let summary = Summary::new("cleanup", false);
        self.for_each_due(now, summary, (deadline, needed), |id| async move {
            if !deadline.allows(self.clock.now(), needed) {
                return Outcome::Left;
            }
            let account = match self.lease(&id, owner, Mode::Due(now)).await {
                Ok(account) => account,
                Err(outcome) => return outcome,
            };
            match rules::cleanup(&account, self.clock.now()) {
                Next::Flag(reason) => self.flag(account, reason).await,
                _ => {
                    self.release(&account.id, owner).await;
                    Outcome::Skipped
                }
            }
        })
        .await
    }

    /// Runs `work` on every account due at `now`, `concurrency` at a time,
    /// and counts the outcomes into `summary`; reads no more of the due
    /// index once work that takes `needed` no longer fits before the
    /// deadline.
    async fn for_each_due<F, Fut>(
        &self,
        now: DateTime<Utc>,
        summary: Summary,
        (deadline, needed): (Deadline, Duration),
        work: F,
    ) -> Summary
    where
        F: Fn(AccountId) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let work = &work;
        self.due_ids(now, deadline, needed)
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
}
