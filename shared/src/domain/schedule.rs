//! When the sweep refreshes an account, which due-index partition (shard)
//! it lives in, which shards a sweep or a plan must cover while the number
//! of shards changes, and the slices of the due index that refresh workers
//! take: all computed here, without I/O.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ids::AccountId;
use crate::env::{ConfigError, Env};

/// How many partitions the sparse `due` index spreads accounts over
/// (`REFRESH_SHARDS`, 1-1024, default 16), so that no one partition runs hot
/// and fan-out has that many slices to hand out. An account's shard is
/// computed when it is written, so a change takes effect account by account
/// as they are refreshed; see [`ShardSpan`] for how nothing is missed
/// meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueShards(u32);

impl DueShards {
    pub const DEFAULT: Self = Self(16);
    pub const MAX: u32 = 1024;

    pub fn new(count: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&count).then_some(Self(count))
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let count = env.number("REFRESH_SHARDS", u64::from(Self::DEFAULT.0), (1, 1024))?;
        u32::try_from(count)
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| ConfigError::malformed("REFRESH_SHARDS", "expected 1-1024"))
    }

    pub fn count(self) -> u32 {
        self.0
    }

    /// The shard `account` is written to: a stable FNV-1a hash.
    pub fn of(self, account: &AccountId) -> u32 {
        fnv1a(account.as_ref()) % self.0
    }
}

impl Default for DueShards {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The shard count a sweep or plan must cover, as recorded in the store:
/// accounts written under an earlier, wider count stay in its shards until
/// they are written again, so those shards are covered until they are found
/// empty, and no sooner than [`SHARD_SETTLE`] after the count changed (a
/// function still running with the old count may write one more account
/// there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpan {
    /// Shards `0..widest` may hold accounts.
    pub widest: u32,
    /// The configured count when this record was written.
    pub count: u32,
    /// When the configured count was first seen.
    pub since: DateTime<Utc>,
}

/// How long after a change of `REFRESH_SHARDS` shards beyond the new count
/// are still covered, even when found empty: longer than any function runs.
pub const SHARD_SETTLE: Duration = Duration::hours(1);

/// What to cover now, and what to record.
#[derive(Debug, PartialEq, Eq)]
pub struct SpanPlan {
    /// Query shards `0..cover`.
    pub cover: u32,
    /// Write this record (the count changed, or the old shards were let go).
    pub record: Option<ShardSpan>,
    /// Shards to find empty before the record may shrink to `count`: when
    /// all are empty, write [`SpanPlan::settled`].
    pub drain: std::ops::Range<u32>,
}

impl SpanPlan {
    /// The record once the shards in `drain` are found empty.
    pub fn settled(&self, now: DateTime<Utc>, current: DueShards) -> ShardSpan {
        ShardSpan {
            widest: current.count(),
            count: current.count(),
            since: now,
        }
    }
}

/// Which shards to cover at `now` with `current` configured and `recorded`
/// in the store.
pub fn span_plan(current: DueShards, recorded: Option<ShardSpan>, now: DateTime<Utc>) -> SpanPlan {
    let count = current.count();
    // No record yet: the accounts were written before there was one, with
    // the default count.
    let first = recorded.is_none();
    let recorded = recorded.unwrap_or(ShardSpan {
        widest: DueShards::DEFAULT.count(),
        count: DueShards::DEFAULT.count(),
        since: now,
    });
    let widest = recorded.widest.max(count);
    let record =
        (first || recorded.count != count || recorded.widest < count).then_some(ShardSpan {
            widest,
            count,
            since: now,
        });
    let since = record.map_or(recorded.since, |r| r.since);
    let drain = if widest > count && now - since >= SHARD_SETTLE {
        count..widest
    } else {
        count..count
    };
    SpanPlan {
        cover: widest,
        record,
        drain,
    }
}

/// A place in one shard of the due index, in its order (`due_at`, then the
/// account): where a page or a slice resumes, strictly after it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DuePosition {
    /// Seconds since the epoch, as the index stores it.
    pub due_at: i64,
    pub account_id: AccountId,
}

/// A refresh worker's share of a plan: the accounts of `shard` due by
/// `due_by`, after `after` (from the start when absent). A worker that
/// runs short of time sends the rest as a new slice with `after` set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    pub shard: u32,
    pub due_by: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<DuePosition>,
}

impl Slice {
    /// Whether the rest of this slice is still worth sending on at `now`:
    /// once the next plan has run, its slice of the same shard covers
    /// everything this one would, from the most urgent.
    pub fn worth_continuing(&self, now: DateTime<Utc>) -> bool {
        now < self.due_by + SWEEP_INTERVAL
    }
}

/// The sweep runs every 30 minutes; an account becomes due early enough that
/// at least two sweeps see it before its access token expires, plus a margin
/// for a sweep that runs long.
pub const SWEEP_INTERVAL: Duration = Duration::minutes(30);
pub const SWEEPS_BEFORE_EXPIRY: i32 = 2;
pub const DUE_MARGIN: Duration = Duration::minutes(15);

/// When the sweep should refresh an account whose access token expires at
/// `access_expires_at`: never before `issued_at`.
pub fn due_at(issued_at: DateTime<Utc>, access_expires_at: DateTime<Utc>) -> DateTime<Utc> {
    let lead = SWEEP_INTERVAL * SWEEPS_BEFORE_EXPIRY + DUE_MARGIN;
    (access_expires_at - lead).max(issued_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_time_leaves_two_sweeps_for_both_documented_lifetimes() {
        let issued = Utc::now();
        for lifetime in [Duration::hours(2), Duration::hours(24)] {
            let expires = issued + lifetime;
            let due = due_at(issued, expires);
            // The worst case: a sweep ran just before `due`; the next two
            // sweeps run at most one and two intervals after it.
            let second_sweep = due + SWEEP_INTERVAL * 2;
            assert!(second_sweep < expires, "lifetime {lifetime}");
            assert!(due >= issued);
        }
        // A lifetime shorter than the lead makes the account due at once.
        assert_eq!(due_at(issued, issued + Duration::minutes(10)), issued);
    }

    #[test]
    fn due_shards_are_stable_and_spread() {
        let id = AccountId::parse("open-42").unwrap();
        for shards in [DueShards::DEFAULT, DueShards::new(256).unwrap()] {
            assert_eq!(shards.of(&id), shards.of(&id));
            let mut seen = std::collections::HashSet::new();
            for i in 0..10_000 {
                let shard = shards.of(&AccountId::parse(format!("open-{i}")).unwrap());
                assert!(shard < shards.count());
                seen.insert(shard);
            }
            assert_eq!(seen.len(), shards.count() as usize);
        }
        // The default count keeps the shards accounts were written with.
        assert_eq!(DueShards::DEFAULT.of(&id), fnv1a("open-42") % 16);
    }

    #[test]
    fn the_shard_count_is_a_bounded_setting() {
        assert_eq!(DueShards::from_env(&Env::default()), Ok(DueShards::DEFAULT));
        let env = Env::from_pairs([("REFRESH_SHARDS", "256")]);
        assert_eq!(DueShards::from_env(&env).unwrap().count(), 256);
        for bad in ["0", "1025", "many"] {
            let env = Env::from_pairs([("REFRESH_SHARDS", bad)]);
            assert!(DueShards::from_env(&env).is_err(), "{bad}");
        }
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        chrono::TimeZone::timestamp_opt(&Utc, 1_800_000_000, 0).unwrap()
            + Duration::minutes(minutes)
    }

    fn span(widest: u32, count: u32, since: i64) -> Option<ShardSpan> {
        Some(ShardSpan {
            widest,
            count,
            since: at(since),
        })
    }

    #[test]
    fn a_first_plan_records_the_count() {
        let plan = span_plan(DueShards::DEFAULT, None, at(0));
        assert_eq!(plan.cover, 16);
        assert_eq!(plan.record, span(16, 16, 0));
        assert!(plan.drain.is_empty());
        // Accounts written before the first record used the default count:
        // a first plan with fewer shards still covers those.
        let plan = span_plan(DueShards::new(4).unwrap(), None, at(0));
        assert_eq!(plan.cover, 16);
        assert_eq!(plan.record, span(16, 4, 0));
        assert!(plan.drain.is_empty());
        // Unchanged: nothing to write.
        let plan = span_plan(DueShards::DEFAULT, span(16, 16, 0), at(30));
        assert_eq!((plan.cover, plan.record), (16, None));
    }

    #[test]
    fn growing_covers_the_new_shards_which_include_the_old() {
        let wide = DueShards::new(256).unwrap();
        let plan = span_plan(wide, span(16, 16, 0), at(30));
        assert_eq!(plan.cover, 256);
        assert_eq!(plan.record, span(256, 256, 30));
        assert!(plan.drain.is_empty());
    }

    #[test]
    fn shrinking_covers_the_old_shards_until_settled_and_empty() {
        let narrow = DueShards::new(8).unwrap();
        // The change is seen: the old, wider shards are still covered.
        let plan = span_plan(narrow, span(256, 256, 0), at(30));
        assert_eq!(plan.cover, 256);
        assert_eq!(plan.record, span(256, 8, 30));
        assert!(plan.drain.is_empty(), "too soon to let any shard go");
        // Within the settle time: still covered, nothing to drain.
        let plan = span_plan(narrow, span(256, 8, 30), at(60));
        assert_eq!((plan.cover, plan.record), (256, None));
        assert!(plan.drain.is_empty());
        // After it: the old shards are checked, and let go once empty.
        let plan = span_plan(narrow, span(256, 8, 30), at(90));
        assert_eq!(plan.cover, 256);
        assert_eq!(plan.drain, 8..256);
        assert_eq!(plan.settled(at(90), narrow), span(8, 8, 90).unwrap());
        // Growing back before the old shards emptied keeps them all.
        let plan = span_plan(DueShards::new(64).unwrap(), span(256, 8, 30), at(95));
        assert_eq!(plan.cover, 256);
        assert_eq!(plan.record, span(256, 64, 95));
    }

    #[test]
    fn positions_order_by_due_time_then_account() {
        let p = |due_at, id: &str| DuePosition {
            due_at,
            account_id: AccountId::parse(id).unwrap(),
        };
        assert!(p(1, "b") < p(2, "a"));
        assert!(p(2, "a") < p(2, "b"));
    }

    #[test]
    fn slices_travel_as_json_and_expire_with_the_next_plan() {
        let slice = Slice {
            shard: 3,
            due_by: at(0),
            after: Some(DuePosition {
                due_at: 1_800_000_000,
                account_id: AccountId::parse("open-1").unwrap(),
            }),
        };
        let json = serde_json::to_value(&slice).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"shard": 3, "due_by": "2027-01-15T08:00:00Z",
                "after": {"due_at": 1_800_000_000, "account_id": "open-1"}})
        );
        assert_eq!(serde_json::from_value::<Slice>(json).unwrap(), slice);
        assert!(serde_json::from_str::<Slice>(r#"{"shard": 1}"#).is_err());
        assert!(slice.worth_continuing(at(29)));
        assert!(!slice.worth_continuing(at(30)));
    }
}
