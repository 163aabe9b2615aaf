//! Analytics over time: TikTok gives today's counts only (an account's
//! followers, following, likes and videos; each video's views, likes,
//! comments and shares), so history exists only as the daily snapshots we
//! keep. What a snapshot holds, which accounts get one (and why others are
//! skipped), the date ranges a client may ask for, and the change over one.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::account::{Account, AccountStatus};

/// The scope a profile snapshot needs (`/v2/user/info/` stats fields).
pub const STATS_SCOPE: &str = "user.info.stats";
/// The scope a videos snapshot needs (`/v2/video/list/`).
pub const VIDEOS_SCOPE: &str = "video.list";
/// The longest range a client may ask for: the default retention.
pub const MAX_RANGE_DAYS: i64 = 400;
/// The range when a client names none: the last 30 days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

/// An account's counts, as TikTok gives them now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountCounts {
    pub followers: i64,
    pub following: i64,
    pub likes: i64,
    pub videos: i64,
}

/// One video and its counts, as TikTok gives them now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Video {
    /// TikTok's id, which is also the public post id of a video we
    /// published.
    pub id: String,
    /// Seconds since the epoch.
    pub create_time: i64,
    pub title: Option<String>,
    pub share_url: Option<String>,
    /// Seconds.
    pub duration: Option<i64>,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
}

/// One account's counts on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProfilePoint {
    #[serde(serialize_with = "iso_date")]
    pub date: NaiveDate,
    pub followers: i64,
    pub following: i64,
    pub likes: i64,
    pub videos: i64,
}

/// One video's counts on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VideoPoint {
    #[serde(serialize_with = "iso_date")]
    pub date: NaiveDate,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
}

/// How an account's counts changed over a range: the last point less the
/// first (zero with fewer than two points).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileChange {
    pub followers: i64,
    pub following: i64,
    pub likes: i64,
    pub videos: i64,
}

pub fn change(points: &[ProfilePoint]) -> ProfileChange {
    match (points.first(), points.last()) {
        (Some(first), Some(last)) => ProfileChange {
            followers: last.followers - first.followers,
            following: last.following - first.following,
            likes: last.likes - first.likes,
            videos: last.videos - first.videos,
        },
        _ => ProfileChange::default(),
    }
}

fn iso_date<S: serde::Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&date.format("%Y-%m-%d").to_string())
}

/// Why an account gets no snapshot today: said, not failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// It needs reconnecting (or was disconnected): TikTok would refuse.
    NotActive(AccountStatus),
    /// It was connected without these scopes: connect it again, granting
    /// them.
    MissingScopes(Vec<&'static str>),
}

impl Skip {
    pub fn reason(&self) -> String {
        match self {
            Self::NotActive(status) => format!("the account is {}", status.as_str()),
            Self::MissingScopes(scopes) => format!(
                "the account did not grant {}; connect it again to grant it",
                scopes.join(" and ")
            ),
        }
    }
}

/// Whether `account` gets a snapshot: active, with both scopes.
pub fn snapshot_skip(account: &Account) -> Option<Skip> {
    if account.status != AccountStatus::Active {
        return Some(Skip::NotActive(account.status));
    }
    let missing: Vec<&'static str> = [STATS_SCOPE, VIDEOS_SCOPE]
        .into_iter()
        .filter(|s| !account.scopes.contains(s))
        .collect();
    (!missing.is_empty()).then_some(Skip::MissingScopes(missing))
}

/// A date range a client asks for, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRange {
    #[error("{0} must be a date, YYYY-MM-DD")]
    Malformed(&'static str),
    #[error("from is after to")]
    Reversed,
    #[error("a range is at most {MAX_RANGE_DAYS} days")]
    TooLong,
}

impl InvalidRange {
    pub fn code(&self) -> &'static str {
        "invalid_range"
    }
}

impl DateRange {
    /// `from` and `to` as the client sent them (`YYYY-MM-DD`, or an RFC
    /// 3339 time, read as its UTC date); `to` defaults to `today`, `from`
    /// to 30 days before `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, InvalidRange> {
        let to = match to {
            Some(raw) => date(raw).ok_or(InvalidRange::Malformed("to"))?,
            None => today,
        };
        let from = match from {
            Some(raw) => date(raw).ok_or(InvalidRange::Malformed("from"))?,
            None => to - Duration::days(DEFAULT_RANGE_DAYS - 1),
        };
        if from > to {
            return Err(InvalidRange::Reversed);
        }
        if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            return Err(InvalidRange::TooLong);
        }
        Ok(Self { from, to })
    }
}

fn date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc).date_naive())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::sample::account;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_parse_default_and_refuse() {
        let today = day("2027-03-10");
        assert_eq!(
            DateRange::parse(None, None, today),
            Ok(DateRange {
                from: day("2027-02-09"),
                to: today
            })
        );
        assert_eq!(
            DateRange::parse(Some("2027-03-01"), Some("2027-03-05T23:00:00Z"), today),
            Ok(DateRange {
                from: day("2027-03-01"),
                to: day("2027-03-05")
            })
        );
        let err = |from, to| DateRange::parse(from, to, today).unwrap_err();
        assert_eq!(
            err(Some("yesterday"), None),
            InvalidRange::Malformed("from")
        );
        assert_eq!(err(None, Some("2027-13-01")), InvalidRange::Malformed("to"));
        assert_eq!(
            err(Some("2027-03-06"), Some("2027-03-05")),
            InvalidRange::Reversed
        );
        assert!(DateRange::parse(Some("2026-02-04"), Some("2027-03-10"), today).is_ok());
        assert_eq!(
            err(Some("2026-02-03"), Some("2027-03-10")),
            InvalidRange::TooLong,
            "401 days"
        );
    }

    #[test]
    fn the_change_is_the_last_point_less_the_first() {
        let point = |d, f| ProfilePoint {
            date: day(d),
            followers: f,
            following: 3,
            likes: f * 2,
            videos: 1,
        };
        assert_eq!(change(&[]), ProfileChange::default());
        assert_eq!(change(&[point("2027-03-01", 10)]), ProfileChange::default());
        let points = [
            point("2027-03-01", 10),
            point("2027-03-02", 15),
            point("2027-03-03", 12),
        ];
        assert_eq!(
            change(&points),
            ProfileChange {
                followers: 2,
                following: 0,
                likes: 4,
                videos: 0
            }
        );
    }

    #[test]
    fn only_active_accounts_with_both_scopes_are_snapshotted() {
        use AccountStatus::*;
        let all = "user.info.basic,user.info.stats,video.list,video.publish";
        assert_eq!(snapshot_skip(&account("alice", Active, all)), None);
        assert_eq!(
            snapshot_skip(&account("alice", ReauthRequired, all)),
            Some(Skip::NotActive(ReauthRequired))
        );
        let old = account("alice", Active, "user.info.basic,video.publish");
        let skip = snapshot_skip(&old).unwrap();
        assert_eq!(skip, Skip::MissingScopes(vec![STATS_SCOPE, VIDEOS_SCOPE]));
        assert_eq!(
            skip.reason(),
            "the account did not grant user.info.stats and video.list; connect it again to grant it"
        );
    }
}
