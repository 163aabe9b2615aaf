//! What the analytics API reads: an account's daily points and their
//! change, its videos with their latest counts (and, for ours, the upload
//! and post), one video's daily points, and a summary across a user's
//! accounts. Another user's account or video is "not found".

use std::{collections::HashMap, fmt};

use serde::Serialize;

use crate::{
    adapters::store::{Store, accounts::Cursor, analytics::StoredDay},
    domain::{
        account::Account,
        analytics::{DateRange, ProfileChange, ProfilePoint, VideoPoint, change, snapshot_skip},
        ids::{AccountId, UserId},
        ports::{AccountStore, StoreError},
        time::rfc3339,
    },
};

/// The longest page of videos.
pub const MAX_VIDEO_PAGE: i32 = 50;
/// Accounts read per page while summarising.
const SUMMARY_PAGE: i32 = 100;

#[derive(thiserror::Error)]
pub enum HistoryError {
    /// The account or video is absent, or not the caller's.
    #[error("not found")]
    NotFound,
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    #[error("a dependency is unavailable")]
    Unavailable(#[from] StoreError),
}

impl fmt::Debug for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

#[derive(Debug, Serialize)]
pub struct AccountStats {
    pub account_id: String,
    pub points: Vec<ProfilePoint>,
    pub change: ProfileChange,
    /// Why the account gets no snapshots, when it gets none (a scope to
    /// grant by connecting again, or its status).
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VideoView {
    pub video_id: String,
    pub title: Option<String>,
    pub created_at: String,
    pub share_url: Option<String>,
    pub duration_sec: Option<i64>,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub upload_id: Option<String>,
    pub post_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VideoListing {
    pub videos: Vec<VideoView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VideoStats {
    pub video_id: String,
    pub points: Vec<VideoPoint>,
}

#[derive(Debug, Serialize)]
pub struct TopVideo {
    pub video_id: String,
    pub title: Option<String>,
    /// Views gained over the range.
    pub views: i64,
}

#[derive(Debug, Serialize)]
pub struct SummaryRow {
    pub account_id: String,
    pub display_name: String,
    pub followers: Option<i64>,
    pub followers_change: i64,
    pub likes_change: i64,
    pub videos_change: i64,
    pub top_video: Option<TopVideo>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub accounts: Vec<SummaryRow>,
}

#[derive(Clone)]
pub struct History {
    store: Store,
}

impl History {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn owned(&self, user: &UserId, id: &AccountId) -> Result<Account, HistoryError> {
        match self.store.get_account(id).await? {
            Some(account) if &account.owner == user => Ok(account),
            _ => Err(HistoryError::NotFound),
        }
    }

    #[tracing::instrument(name = "analytics.account_stats", skip_all, fields(user = %user, account_id = %id))]
    pub async fn account_stats(
        &self,
        user: &UserId,
        id: &AccountId,
        range: &DateRange,
    ) -> Result<AccountStats, HistoryError> {
        let account = self.owned(user, id).await?;
        let points: Vec<ProfilePoint> = self
            .store
            .profile_points(id, range)
            .await?
            .into_iter()
            .map(|d| d.point)
            .collect();
        Ok(AccountStats {
            account_id: id.to_string(),
            change: change(&points),
            points,
            note: snapshot_skip(&account).map(|s| s.reason()),
        })
    }

    #[tracing::instrument(name = "analytics.videos", skip_all, fields(user = %user, account_id = %id))]
    pub async fn videos(
        &self,
        user: &UserId,
        id: &AccountId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<VideoListing, HistoryError> {
        self.owned(user, id).await?;
        let start = cursor
            .map(|raw| decode_cursor(raw, id).ok_or(HistoryError::InvalidCursor))
            .transpose()?;
        let page = self
            .store
            .videos_of(id, limit.clamp(1, MAX_VIDEO_PAGE), start.as_deref())
            .await?;
        let ids: Vec<&str> = page.videos.iter().map(|v| v.video.id.as_str()).collect();
        let links = self.store.video_links(id, &ids).await?;
        let videos = page
            .videos
            .iter()
            .map(|stored| {
                let v = &stored.video;
                let link = links.get(&v.id);
                VideoView {
                    video_id: v.id.clone(),
                    title: v.title.clone(),
                    created_at: chrono::DateTime::from_timestamp(v.create_time, 0)
                        .map(rfc3339)
                        .unwrap_or_default(),
                    share_url: v.share_url.clone(),
                    duration_sec: v.duration,
                    views: v.views,
                    likes: v.likes,
                    comments: v.comments,
                    shares: v.shares,
                    upload_id: link.map(|l| l.upload_id.to_string()),
                    post_id: link.and_then(|l| l.post_id.as_ref().map(ToString::to_string)),
                }
            })
            .collect();
        Ok(VideoListing {
            videos,
            next_cursor: page.next.map(|sk| encode_cursor(&sk, id)),
        })
    }

    #[tracing::instrument(name = "analytics.video_stats", skip_all, fields(user = %user, account_id = %id))]
    pub async fn video_stats(
        &self,
        user: &UserId,
        id: &AccountId,
        video: &str,
        range: &DateRange,
    ) -> Result<VideoStats, HistoryError> {
        self.owned(user, id).await?;
        let points = self.store.video_points(id, video, range).await?;
        if points.is_empty() && !self.store.has_video(id, video).await? {
            return Err(HistoryError::NotFound);
        }
        Ok(VideoStats {
            video_id: video.to_owned(),
            points,
        })
    }

    /// One row per account of the caller's: followers now, the changes
    /// over the range, and the video that gained most views in it.
    #[tracing::instrument(name = "analytics.summary", skip_all, fields(user = %user))]
    pub async fn summary(&self, user: &UserId, range: &DateRange) -> Result<Summary, HistoryError> {
        let mut rows = Vec::new();
        let mut start: Option<Cursor> = None;
        loop {
            let page = self
                .store
                .accounts_of(user, SUMMARY_PAGE, start.as_ref())
                .await?;
            for account in &page.accounts {
                let days = self.store.profile_points(&account.id, range).await?;
                let points: Vec<ProfilePoint> = days.iter().map(|d| d.point).collect();
                let grown = change(&points);
                let top_video = match top_video(&days) {
                    Some((video_id, views)) => Some(TopVideo {
                        title: self.store.video_title(&account.id, &video_id).await?,
                        video_id,
                        views,
                    }),
                    None => None,
                };
                rows.push(SummaryRow {
                    account_id: account.id.to_string(),
                    display_name: account.profile.display_name.clone(),
                    followers: points.last().map(|p| p.followers),
                    followers_change: grown.followers,
                    likes_change: grown.likes,
                    videos_change: grown.videos,
                    top_video,
                });
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(Summary { accounts: rows }),
            }
        }
    }
}

/// The video that gained most views between the range's first and last
/// day (a video first seen later counts from zero), and how many.
pub fn top_video(days: &[StoredDay]) -> Option<(String, i64)> {
    let (first, last) = (days.first()?, days.last()?);
    let before = |id: &str| -> i64 {
        if days.len() < 2 {
            0
        } else {
            first.video_views.get(id).copied().unwrap_or(0)
        }
    };
    let gains: HashMap<&String, i64> = last
        .video_views
        .iter()
        .map(|(id, views)| (id, views - before(id)))
        .collect();
    gains
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(id, views)| (id.clone(), views))
}

fn encode_cursor(sk: &str, account: &AccountId) -> String {
    use base64::Engine as _;
    let json = serde_json::json!([account.as_ref(), sk]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// A cursor only resumes the listing it came from: `account`'s videos.
fn decode_cursor(raw: &str, account: &AccountId) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let (a, sk): (String, String) = serde_json::from_slice(&bytes).ok()?;
    (a == account.as_ref() && sk.starts_with("VIDEO#")).then_some(sk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32, views: &[(&str, i64)]) -> StoredDay {
        StoredDay {
            point: ProfilePoint {
                date: NaiveDate::from_ymd_opt(2027, 3, d).unwrap(),
                followers: 0,
                following: 0,
                likes: 0,
                videos: 0,
            },
            video_views: views.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn the_top_video_gained_most_views_in_the_range() {
        assert_eq!(top_video(&[]), None);
        let days = [
            day(1, &[("a", 1000), ("b", 10)]),
            day(2, &[("a", 1100), ("b", 500)]),
            day(3, &[("a", 1200), ("b", 900), ("c", 300)]),
        ];
        assert_eq!(top_video(&days), Some(("b".into(), 890)));
        assert_eq!(top_video(&days[..1]), Some(("a".into(), 1000)));
    }

    #[test]
    fn video_cursors_resume_only_their_own_listing() {
        let a = AccountId::parse("a").unwrap();
        let b = AccountId::parse("b").unwrap();
        let raw = encode_cursor("VIDEO#0001800000000000#7", &a);
        assert_eq!(
            decode_cursor(&raw, &a).as_deref(),
            Some("VIDEO#0001800000000000#7")
        );
        assert_eq!(decode_cursor(&raw, &b), None);
        assert_eq!(decode_cursor("nope", &a), None);
    }
}
