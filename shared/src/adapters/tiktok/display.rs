//! TikTok's Display API, for analytics: an account's counts
//! (`/v2/user/info/` with the `user.info.stats` fields) and its videos with
//! their counts (`/v2/video/list/`, newest first, a page of at most 20 and
//! a cursor). Both answer today's counts only (tiktok-api.md §1.2, §2.2).

use serde::Deserialize;

use super::{
    client::{TikTokClient, call},
    wire::parse_envelope,
};
use crate::domain::{
    analytics::{AccountCounts, Video},
    secrets::AccessToken,
    tiktok::TikTokError,
};

/// TikTok's largest `max_count` for `/v2/video/list/`.
pub const MAX_VIDEO_PAGE: u32 = 20;

const STATS_FIELDS: &str = "follower_count,following_count,likes_count,video_count";
const VIDEO_FIELDS: &str = "id,create_time,title,share_url,duration,view_count,like_count,\
                            comment_count,share_count";

/// `user` with the stats fields, as TikTok sends it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
struct UserStats {
    #[serde(default)]
    follower_count: i64,
    #[serde(default)]
    following_count: i64,
    #[serde(default)]
    likes_count: i64,
    #[serde(default)]
    video_count: i64,
}

impl From<UserStats> for AccountCounts {
    fn from(u: UserStats) -> Self {
        Self {
            followers: u.follower_count,
            following: u.following_count,
            likes: u.likes_count,
            videos: u.video_count,
        }
    }
}

#[derive(Deserialize)]
struct UserData {
    user: UserStats,
}

/// A video, as TikTok sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
struct WireVideo {
    id: String,
    #[serde(default)]
    create_time: i64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    share_url: Option<String>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    view_count: i64,
    #[serde(default)]
    like_count: i64,
    #[serde(default)]
    comment_count: i64,
    #[serde(default)]
    share_count: i64,
}

impl From<WireVideo> for Video {
    fn from(v: WireVideo) -> Self {
        Self {
            id: v.id,
            create_time: v.create_time,
            title: v.title,
            share_url: v.share_url,
            duration: v.duration,
            views: v.view_count,
            likes: v.like_count,
            comments: v.comment_count,
            shares: v.share_count,
        }
    }
}

#[derive(Debug, Deserialize)]
struct WirePage {
    #[serde(default)]
    videos: Vec<WireVideo>,
    #[serde(default)]
    cursor: Option<i64>,
    #[serde(default)]
    has_more: bool,
}

/// A page of videos, newest first, and where the next (older) one starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VideoPage {
    pub videos: Vec<Video>,
    pub cursor: Option<i64>,
    pub has_more: bool,
}

impl From<WirePage> for VideoPage {
    fn from(p: WirePage) -> Self {
        Self {
            videos: p.videos.into_iter().map(Video::from).collect(),
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl TikTokClient {
    /// `GET /v2/user/info/` for the `user.info.stats` fields.
    #[tracing::instrument(name = "tiktok.user_stats", skip_all)]
    pub async fn user_stats(&self, access: &AccessToken) -> Result<AccountCounts, TikTokError> {
        let mut url = self.endpoint("/v2/user/info/");
        url.query_pairs_mut().append_pair("fields", STATS_FIELDS);
        let (status, body) = call(
            self.http
                .get(url)
                .timeout(self.timeout)
                .bearer_auth(access.expose()),
        )
        .await?;
        parse_envelope::<UserData>(status, &body).map(|d| d.user.into())
    }

    /// `POST /v2/video/list/`: at most `max_count` (1-20) videos older than
    /// `cursor` (from the previous page), newest first.
    #[tracing::instrument(name = "tiktok.video_list", skip_all)]
    pub async fn video_list(
        &self,
        access: &AccessToken,
        cursor: Option<i64>,
        max_count: u32,
    ) -> Result<VideoPage, TikTokError> {
        let mut url = self.endpoint("/v2/video/list/");
        url.query_pairs_mut().append_pair("fields", VIDEO_FIELDS);
        let mut body = serde_json::json!({"max_count": max_count.clamp(1, MAX_VIDEO_PAGE)});
        if let Some(cursor) = cursor {
            body["cursor"] = cursor.into();
        }
        let (status, body) = call(
            self.http
                .post(url)
                .timeout(self.timeout)
                .bearer_auth(access.expose())
                .json(&body),
        )
        .await?;
        parse_envelope::<WirePage>(status, &body).map(VideoPage::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_pages_read_tiktoks_envelopes() {
        let stats = r#"{"data":{"user":{"open_id":"o","follower_count":12,"following_count":3,"likes_count":40,"video_count":2}},"error":{"code":"ok","message":"","log_id":"l"}}"#;
        let data: UserData = parse_envelope(200, stats).unwrap();
        assert_eq!(
            AccountCounts::from(data.user),
            AccountCounts {
                followers: 12,
                following: 3,
                likes: 40,
                videos: 2
            }
        );
        let page = r#"{"data":{"videos":[{"id":"7291","create_time":1800000000,"title":"t","view_count":5}],"cursor":1800000000000,"has_more":true},"error":{"code":"ok","message":"","log_id":"l"}}"#;
        let page = VideoPage::from(parse_envelope::<WirePage>(200, page).unwrap());
        assert_eq!(page.videos[0].id, "7291");
        assert_eq!(page.videos[0].views, 5);
        assert_eq!(page.cursor, Some(1_800_000_000_000));
        assert!(page.has_more);
        let limited =
            r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"slow","log_id":"l"}}"#;
        assert!(
            parse_envelope::<WirePage>(429, limited)
                .unwrap_err()
                .is_transient()
        );
    }
}
