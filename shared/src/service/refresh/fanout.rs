//! Fan-out: plan and work, apart. The schedule's invocation plans: it sends
//! one slice per shard that has due accounts to the refresh queue and
//! refreshes nothing itself. Each refresh worker takes one slice, refreshes
//! its due accounts in the index's order (most urgent first) through the
//! same exactly-once path as the sweep, stops taking leases before its
//! deadline, and sends the rest of the slice back to the queue.

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

use super::{
    Refresher,
    account::Mode,
    command::{AccountError, MAX_SUMMARY_ERRORS, Summary},
    lease_owner,
};
use crate::{
    domain::{
        ports::{
            AccountStore, QueueError, RefreshLeases, RefreshQueue, StoreError, TokenEndpoint,
            TokenSealer,
        },
        schedule::Slice,
    },
    support::{deadline::Deadline, errors::chain_line, metrics},
};

/// What a plan did: slices sent, and the accounts due in them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlanSummary {
    /// Always `plan`.
    pub action: &'static str,
    /// Slices sent to the refresh queue.
    pub planned: u64,
    /// Accounts due when planned (a shard that could not be counted is
    /// planned all the same, and named in `errors`).
    pub due: u64,
    pub errors: Vec<AccountError>,
}

/// Why a plan sent nothing: the schedule's retry runs it again.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("could not read which shards to plan")]
    Shards(#[source] StoreError),
    #[error("could not send the slices")]
    Queue(#[source] QueueError),
}

/// What a worker did with its slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceDone {
    pub summary: Summary,
    /// The rest of the slice, sent back to the queue.
    pub continued: Option<Slice>,
}

impl<S, K, T> Refresher<S, K, T>
where
    S: AccountStore + RefreshLeases,
    K: TokenSealer,
    T: TokenEndpoint,
{
    /// Plans a refresh of everything due now: one slice per shard with due
    /// accounts, sent to `queue`. Refreshes nothing.
    #[tracing::instrument(name = "refresh.plan", skip_all)]
    pub async fn plan(&self, queue: &impl RefreshQueue) -> Result<PlanSummary, PlanError> {
        let now = self.clock.now();
        let shards = self
            .shards_to_cover(now, false)
            .await
            .map_err(PlanError::Shards)?;
        let counts: Vec<(u32, Result<u64, StoreError>)> = stream::iter(0..shards)
            .map(|shard| async move { (shard, self.count_due(shard, now).await) })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        let mut summary = PlanSummary {
            action: "plan",
            planned: 0,
            due: 0,
            errors: Vec::new(),
        };
        let mut slices = Vec::new();
        for (shard, count) in counts {
            match count {
                Ok(0) => continue,
                Ok(n) => summary.due += n,
                Err(e) => {
                    if summary.errors.len() < MAX_SUMMARY_ERRORS {
                        summary.errors.push(AccountError {
                            account_id: format!("due-shard-{shard}"),
                            error: chain_line(&e),
                        });
                    }
                }
            }
            slices.push(Slice {
                shard,
                due_by: now,
                after: None,
            });
        }
        slices.sort_by_key(|s| s.shard);
        queue
            .send_slices(&slices, std::time::Duration::ZERO)
            .await
            .map_err(PlanError::Queue)?;
        summary.planned = slices.len() as u64;
        tracing::info!(
            shards,
            planned = summary.planned,
            due = summary.due,
            "plan sent"
        );
        metrics::count(
            ("Operation", "plan"),
            &[("Planned", summary.planned), ("Due", summary.due)],
        );
        Ok(summary)
    }

    /// How many accounts of `shard` are due at `now`, read page by page.
    async fn count_due(&self, shard: u32, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut due = 0;
        let mut after = None;
        loop {
            let page = self
                .store
                .due_page(shard, now, self.settings.plan_page_size, after.as_ref())
                .await?;
            due += page.accounts.len() as u64;
            match page.next() {
                Some(next) => after = Some(next.clone()),
                None => return Ok(due),
            }
        }
    }

    /// Refreshes the due accounts of `slice`, starting none that cannot
    /// finish before `deadline`, and sends the rest to `queue` while no
    /// later plan covers it. An error means the rest could not be sent: the
    /// slice should be taken again (what it refreshed is no longer due).
    #[tracing::instrument(name = "refresh.slice", skip_all, fields(shard = slice.shard))]
    pub async fn work(
        &self,
        slice: Slice,
        deadline: Deadline,
        queue: &impl RefreshQueue,
    ) -> Result<SliceDone, QueueError> {
        let owner = lease_owner();
        // Never ahead of time, whatever a message says.
        let due_by = slice.due_by.min(self.clock.now());
        let items = self.shard_items(
            slice.shard,
            due_by,
            slice.after.clone(),
            (deadline, self.budget.whole()),
            self.settings.page_size,
        );
        let owner = &owner;
        let (summary, left) = self
            .work_on(items, Summary::new("slice", false), |at| async move {
                self.refresh_account(&at.account_id, owner, Mode::Due(due_by), deadline)
                    .await
            })
            .await;
        // What this invocation could not start goes on at once, from where
        // it stopped; accounts that failed are taken again after a pause,
        // within this plan rather than at the next. Either way, only while
        // no later plan covers the shard.
        let now = self.clock.now();
        if summary.due == 0 && left.unstarted.as_ref() == Some(&slice.after) {
            // Not one account could be started: sending the same slice on
            // at once would only go round in circles.
            tracing::warn!(
                "no time left to refresh one account of this slice; it is left to the next plan"
            );
            summary.log_finished();
            return Ok(SliceDone {
                summary,
                continued: None,
            });
        }
        let (after, delay) = match (left.unstarted, left.failed) {
            (Some(unstarted), failed) => (
                Some(failed.map_or(unstarted.clone(), |f| f.min(unstarted))),
                std::time::Duration::ZERO,
            ),
            (None, Some(failed)) => (Some(failed), self.settings.failure_retry),
            (None, None) => (None, std::time::Duration::ZERO),
        };
        let continued = match after {
            Some(after)
                if slice
                    .worth_continuing(now + chrono::Duration::seconds(delay.as_secs() as i64)) =>
            {
                let rest = Slice {
                    shard: slice.shard,
                    due_by,
                    after,
                };
                queue
                    .send_slices(std::slice::from_ref(&rest), delay)
                    .await?;
                Some(rest)
            }
            Some(_) => {
                tracing::info!("the rest of this slice is left to the next plan");
                None
            }
            None => None,
        };
        tracing::info!(
            continued = continued.is_some(),
            in_flight_limit = self.pressure.limit(),
            "slice worked"
        );
        summary.log_finished();
        summary.count_metrics();
        Ok(SliceDone { summary, continued })
    }
}
