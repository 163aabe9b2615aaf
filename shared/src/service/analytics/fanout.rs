//! The daily run, fanned out like the refresh: a plan sends one slice per
//! shard of the analytics index; a worker snapshots its slice's accounts a
//! page at a time, a few at once, and hands back the rest of the slice (to
//! be sent again, delayed) when a rate limit is used up or its deadline is
//! near. No Scan: each page is one Query of the index.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use chrono::NaiveDate;
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use super::{SnapshotError, SnapshotOutcome, Snapshots};
use crate::{
    domain::{ids::AccountId, ports::RefreshLeases, schedule::DueShards},
    support::deadline::Deadline,
};

/// Accounts read per page of a shard.
const PAGE: i32 = 25;
/// Snapshots under way at once within a worker.
const AT_ONCE: usize = 8;
/// The longest one page may take: no page starts with less time left.
const PAGE_TIME: Duration = Duration::from_secs(60);

/// One shard's accounts still to snapshot on `day`, after `after`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSlice {
    pub shard: u32,
    pub day: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AccountId>,
}

/// What one slice's work came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceReport {
    pub taken: usize,
    pub already_done: usize,
    /// Accounts skipped, with the reason (a scope to grant, a status).
    pub skipped: Vec<(AccountId, String)>,
    /// Accounts TikTok refused for good today.
    pub failed: Vec<(AccountId, String)>,
    /// The rest of the slice, and how long to wait before it.
    pub rest: Option<(SnapshotSlice, Duration)>,
}

impl Snapshots {
    /// Today's slices: one per shard that may hold accounts. That is the
    /// configured count, or more while the refresh's shard record says
    /// accounts written under an earlier, wider count are still there
    /// (read only: the refresh keeps the record).
    pub async fn plan(&self, current: DueShards) -> Result<Vec<SnapshotSlice>, SnapshotError> {
        let recorded = self.store().shard_span().await?;
        let shards = recorded.map_or(0, |span| span.widest).max(current.count());
        let day = self.today();
        Ok((0..shards)
            .map(|shard| SnapshotSlice {
                shard,
                day,
                after: None,
            })
            .collect())
    }

    /// Snapshots `slice`'s accounts until the shard is done, a limit is
    /// used up, or `deadline` is near. A slice of an earlier day is
    /// dropped: today's plan covers every shard again.
    #[tracing::instrument(name = "analytics.work", skip_all, fields(shard = slice.shard))]
    pub async fn work(
        &self,
        slice: SnapshotSlice,
        deadline: Deadline,
    ) -> Result<SliceReport, SnapshotError> {
        let mut report = SliceReport::default();
        if slice.day < self.today() {
            tracing::info!("a slice of an earlier day; today's plan covers it");
            return Ok(report);
        }
        let mut after = slice.after.clone();
        loop {
            if !deadline.allows(self.clock_now(), PAGE_TIME) {
                report.rest = Some((rest(&slice, after), Duration::ZERO));
                return Ok(report);
            }
            let (accounts, more) = self
                .store()
                .accounts_in_shard(slice.shard, PAGE, after.as_ref())
                .await?;
            // Once one account must wait for a limit, the rest of the page
            // is not started: it would only be refused too.
            let held_back = AtomicBool::new(false);
            let outcomes: BTreeMap<usize, Option<Result<SnapshotOutcome, SnapshotError>>> =
                stream::iter(accounts.iter().enumerate())
                    .map(|(i, id)| {
                        let held_back = &held_back;
                        async move {
                            if held_back.load(Ordering::Relaxed) {
                                return (i, None);
                            }
                            let outcome = self.snapshot(id).await;
                            if matches!(outcome, Ok(SnapshotOutcome::Later { .. })) {
                                held_back.store(true, Ordering::Relaxed);
                            }
                            (i, Some(outcome))
                        }
                    })
                    .buffer_unordered(AT_ONCE)
                    .collect()
                    .await;
            // Where the page stopped: before its first account to come back to.
            let mut wait = None;
            for (i, outcome) in outcomes {
                let id = &accounts[i];
                let Some(outcome) = outcome else {
                    let (first, longest) = wait.unwrap_or((i, Duration::ZERO));
                    wait = Some((first.min(i), longest));
                    continue;
                };
                match outcome? {
                    SnapshotOutcome::Taken { .. } => report.taken += 1,
                    SnapshotOutcome::AlreadyDone => report.already_done += 1,
                    SnapshotOutcome::Skipped(reason) => report.skipped.push((id.clone(), reason)),
                    SnapshotOutcome::Failed(reason) => report.failed.push((id.clone(), reason)),
                    SnapshotOutcome::Later {
                        after: delay,
                        reason,
                    } => {
                        tracing::info!(account_id = %id, reason = %reason, "later");
                        let (first, longest) = wait.unwrap_or((i, Duration::ZERO));
                        wait = Some((first.min(i), longest.max(delay)));
                    }
                }
            }
            if let Some((first, delay)) = wait {
                let resume = if first == 0 {
                    after
                } else {
                    Some(accounts[first - 1].clone())
                };
                report.rest = Some((rest(&slice, resume), delay));
                return Ok(report);
            }
            if !more || accounts.is_empty() {
                return Ok(report);
            }
            after = accounts.last().cloned();
        }
    }
}

fn rest(slice: &SnapshotSlice, after: Option<AccountId>) -> SnapshotSlice {
    SnapshotSlice {
        after,
        ..slice.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_round_trip_as_json() {
        let slice = SnapshotSlice {
            shard: 3,
            day: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            after: Some(AccountId::parse("open-1").unwrap()),
        };
        let body = serde_json::to_string(&slice).unwrap();
        assert_eq!(body, r#"{"shard":3,"day":"2027-03-01","after":"open-1"}"#);
        assert_eq!(serde_json::from_str::<SnapshotSlice>(&body).unwrap(), slice);
        assert!(serde_json::from_str::<SnapshotSlice>(r#"{"shard":1}"#).is_err());
    }
}
