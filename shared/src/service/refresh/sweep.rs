//! Reading the due index, and the work over it: the sweep over every shard,
//! cleanup, and (in `fanout`) one slice of one shard. Pages are read shard
//! by shard in the index's order (the most urgent first), with bounded
//! concurrency and constant memory in the number of accounts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{
    Stream, StreamExt,
    stream::{self, BoxStream},
};

use super::{
    Refresher,
    account::Mode,
    command::{Outcome, Summary},
    rules::{self, Next},
};
use crate::{
    domain::{
        ports::{AccountStore, RefreshLeases, StoreError, TokenEndpoint, TokenSealer},
        schedule::{DuePosition, span_plan},
    },
    support::{deadline::Deadline, errors::chain_line},
};

/// One step of reading a shard of the due index.
pub(super) enum DueItem {
    /// A due account, and the position just before it (where a slice
    /// resumes to include it).
    Account {
        before: Option<DuePosition>,
        at: DuePosition,
    },
    /// No more pages were read: the deadline was near. The rest of the
    /// shard follows `after`.
    Stopped { after: Option<DuePosition> },
    /// A page could not be read; the rest of the shard follows `after`.
    Unreadable {
        shard: u32,
        after: Option<DuePosition>,
        error: StoreError,
    },
}

/// What is left of a shard after working on it: where the rest starts
/// (`None`: from the start), if anything is left.
pub(super) type Rest = Option<Option<DuePosition>>;

/// What working on due accounts left behind.
#[derive(Default)]
pub(super) struct Left {
    /// The earliest place from which an account was not started, a page
    /// was not read, or reading stopped.
    pub unstarted: Rest,
    /// The earliest place from which an account failed.
    pub failed: Rest,
}

/// The earlier of two places to resume from.
fn earliest(a: Rest, b: Option<DuePosition>) -> Rest {
    Some(match a {
        Some(a) => a.min(b),
        None => b,
    })
}

impl<S, K, T> Refresher<S, K, T>
where
    S: AccountStore + RefreshLeases,
    K: TokenSealer,
    T: TokenEndpoint,
{
    /// The accounts of `shard` due by `due_by`, after `after`, page by page;
    /// no page is read once work that takes `needed` no longer fits before
    /// `deadline`.
    pub(super) fn shard_items(
        &self,
        shard: u32,
        due_by: DateTime<Utc>,
        after: Option<DuePosition>,
        (deadline, needed): (Deadline, Duration),
        page_size: i32,
    ) -> BoxStream<'_, DueItem> {
        // State: Some(after) while there are pages left.
        stream::unfold(Some(after), move |state| async move {
            let after = state?;
            if !deadline.allows(self.clock.now(), needed) {
                return Some((stream::iter(vec![DueItem::Stopped { after }]), None));
            }
            match self
                .store
                .due_page(shard, due_by, page_size, after.as_ref())
                .await
            {
                Ok(page) => {
                    let next = page.next().cloned().map(Some);
                    let mut before = after;
                    let items: Vec<DueItem> = page
                        .accounts
                        .into_iter()
                        .map(|at| DueItem::Account {
                            before: before.replace(at.clone()),
                            at,
                        })
                        .collect();
                    Some((stream::iter(items), next))
                }
                Err(error) => Some((
                    stream::iter(vec![DueItem::Unreadable {
                        shard,
                        after,
                        error,
                    }]),
                    None,
                )),
            }
        })
        .flatten()
        .boxed()
    }

    /// Every shard at once: memory holds one page per shard, whatever the
    /// number of accounts.
    fn all_items(
        &self,
        shards: u32,
        now: DateTime<Utc>,
        limits: (Deadline, Duration),
    ) -> impl Stream<Item = DueItem> + '_ {
        let page_size = self.settings.page_size;
        stream::select_all(
            (0..shards).map(move |shard| self.shard_items(shard, now, None, limits, page_size)),
        )
    }

    /// How many shards to read at `now`: the configured count, and wider
    /// while accounts may remain in the shards of an earlier, wider count.
    /// Records what it finds unless `read_only`.
    pub(super) async fn shards_to_cover(
        &self,
        now: DateTime<Utc>,
        read_only: bool,
    ) -> Result<u32, StoreError> {
        let current = self.settings.due_shards;
        let recorded = self.store.shard_span().await?;
        let plan = span_plan(current, recorded, now);
        if read_only {
            return Ok(plan.cover);
        }
        if let Some(record) = &plan.record {
            tracing::info!(
                widest = record.widest,
                count = record.count,
                "the due index's shard count changed"
            );
            self.store.record_shard_span(record).await?;
        }
        if !plan.drain.is_empty() {
            let checks = stream::iter(plan.drain.clone())
                .map(|shard| self.store.shard_has_accounts(shard))
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await;
            if checks.iter().all(|held| matches!(held, Ok(false))) {
                let settled = plan.settled(now, current);
                tracing::info!(
                    from = plan.cover,
                    to = settled.widest,
                    "the shards of the earlier count are empty; no longer read"
                );
                self.store.record_shard_span(&settled).await?;
            }
        }
        Ok(plan.cover)
    }

    /// The shards to sweep, or the configured count with the error in the
    /// summary when the record cannot be read.
    async fn sweep_shards(
        &self,
        now: DateTime<Utc>,
        read_only: bool,
        summary: &mut Summary,
    ) -> u32 {
        match self.shards_to_cover(now, read_only).await {
            Ok(shards) => shards,
            Err(e) => {
                summary.error("due-shards".into(), chain_line(&e));
                self.settings.due_shards.count()
            }
        }
    }

    #[tracing::instrument(name = "refresh.sweep", skip_all, fields(dry_run))]
    pub(super) async fn sweep(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        dry_run: bool,
        deadline: Deadline,
    ) -> Summary {
        let mut summary = Summary::new("sweep", dry_run);
        let shards = self.sweep_shards(now, dry_run, &mut summary).await;
        let summary = if dry_run {
            self.all_items(shards, now, (deadline, Duration::ZERO))
                .fold(summary, |mut summary, item| async move {
                    match item {
                        DueItem::Account { .. } => summary.due += 1,
                        DueItem::Unreadable { shard, error, .. } => {
                            summary.shard_error(shard, &error)
                        }
                        DueItem::Stopped { .. } => {}
                    }
                    summary
                })
                .await
        } else {
            let items = self.all_items(shards, now, (deadline, self.budget.whole()));
            self.work_on(items, summary, |at| async move {
                self.refresh_account(&at.account_id, owner, Mode::Due(now), deadline)
                    .await
            })
            .await
            .0
        };
        summary.log_finished();
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
        let mut summary = Summary::new("cleanup", false);
        let shards = self.sweep_shards(now, true, &mut summary).await;
        let items = self.all_items(shards, now, (deadline, needed));
        self.work_on(items, summary, |at| async move {
            if !deadline.allows(self.clock.now(), needed) {
                return Outcome::Left;
            }
            let id = at.account_id;
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
        .0
    }

    /// Runs `work` on every due account `items` yields, as many at a time
    /// as the settings and the back-pressure allow, in the index's order,
    /// and counts the outcomes into `summary`. Also answers what is left:
    /// the earliest place from which an account was not started (`Left`),
    /// a page was not read, or reading stopped.
    pub(super) async fn work_on<F, Fut>(
        &self,
        items: impl Stream<Item = DueItem>,
        summary: Summary,
        work: F,
    ) -> (Summary, Left)
    where
        F: Fn(DuePosition) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let work = &work;
        items
            .map(|item| async move {
                match item {
                    DueItem::Account { before, at } => {
                        let _permit = self.pressure.enter().await;
                        let id = at.account_id.clone();
                        let outcome = work(at).await;
                        let (unstarted, failed) = match outcome {
                            Outcome::Left => (Some(before), None),
                            Outcome::Failed(_) => (None, Some(before)),
                            _ => (None, None),
                        };
                        (Some((id, outcome)), None, unstarted, failed)
                    }
                    DueItem::Stopped { after } => (None, None, Some(after), None),
                    DueItem::Unreadable {
                        shard,
                        after,
                        error,
                    } => (None, Some((shard, error)), Some(after), None),
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .fold(
                (summary, Left::default()),
                |(mut summary, mut left), (done, unreadable, unstarted, failed)| async move {
                    if let Some((id, outcome)) = done {
                        summary.due += 1;
                        summary.record(&id, outcome);
                    }
                    if let Some((shard, error)) = unreadable {
                        summary.shard_error(shard, &error);
                    }
                    if let Some(from) = unstarted {
                        left.unstarted = earliest(left.unstarted, from);
                    }
                    if let Some(from) = failed {
                        left.failed = earliest(left.failed, from);
                    }
                    (summary, left)
                },
            )
            .await
    }
}
