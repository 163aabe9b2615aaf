//! What the Display API reports per user: profile stats and videos with
//! their counts, under a sandbox day counter that makes the counts grow.
//!
//! Growth rule: every day that passes (see `advance_days`) adds, from the
//! day a value was last set,
//! - to each user's `follower_count`: [`FOLLOWERS_PER_DAY`];
//! - to each user's `likes_count`: [`PROFILE_LIKES_PER_DAY`];
//! - to the video at position `i` in its user's list (0 = oldest):
//!   `(i + 1) *` [`VIEWS_PER_DAY`] views, `(i + 1) *` [`LIKES_PER_DAY`]
//!   likes, `(i + 1) *` [`COMMENTS_PER_DAY`] comments and `(i + 1) *`
//!   [`SHARES_PER_DAY`] shares.
//!
//! `following_count` stays as set; `video_count` is the number of videos.
//! A user nothing was set for starts at zero with no videos.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// Followers gained per sandbox day.
pub const FOLLOWERS_PER_DAY: i64 = 10;
/// Profile likes gained per sandbox day.
pub const PROFILE_LIKES_PER_DAY: i64 = 50;
/// Views a video gains per day, times its position + 1.
pub const VIEWS_PER_DAY: i64 = 100;
/// Likes a video gains per day, times its position + 1.
pub const LIKES_PER_DAY: i64 = 10;
/// Comments a video gains per day, times its position + 1.
pub const COMMENTS_PER_DAY: i64 = 1;
/// Shares a video gains per day, times its position + 1.
pub const SHARES_PER_DAY: i64 = 1;

/// Duration of a published video, seconds (uploads are not decoded).
const PUBLISHED_DURATION: i64 = 30;
/// Gap between the create times of consecutive videos of one user, ms.
const CREATE_GAP_MS: i64 = 1000;

/// A user's stats as `/v2/user/info/` reports them today.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileStats {
    pub follower_count: i64,
    pub following_count: i64,
    pub likes_count: i64,
    pub video_count: i64,
}

/// A video with every field `/v2/video/list/` can return, as of today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VideoView {
    /// Decimal string of an int64.
    pub id: String,
    /// Unix seconds.
    pub create_time: i64,
    pub title: String,
    pub cover_image_url: String,
    pub share_url: String,
    pub video_description: String,
    /// Seconds.
    pub duration: i64,
    pub view_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub share_count: i64,
}

/// Counts as last set, and the day they were set on.
#[derive(Clone, Copy, Debug, Default)]
struct Profile {
    followers: i64,
    following: i64,
    likes: i64,
    since_day: u64,
}

#[derive(Clone, Debug)]
struct Video {
    id: String,
    /// Unix ms; strictly increasing along a user's list.
    create_time_ms: i64,
    title: String,
    description: String,
    duration: i64,
    views: i64,
    likes: i64,
    comments: i64,
    shares: i64,
    since_day: u64,
}

#[derive(Default)]
struct UserAnalytics {
    profile: Profile,
    /// Oldest first.
    videos: Vec<Video>,
}

/// A page of `/v2/video/list/`.
#[derive(Debug)]
pub(crate) struct Page {
    /// Newest first.
    pub videos: Vec<VideoView>,
    /// The create time (ms) of the page's oldest video, or the request's
    /// cursor (0 without one) for an empty page.
    pub cursor: i64,
    pub has_more: bool,
}

/// Every user's analytics and the sandbox day.
#[derive(Default)]
pub(crate) struct AnalyticsState {
    day: u64,
    users: HashMap<String, UserAnalytics>,
    /// Every video id handed out, so none repeats.
    ids: HashSet<String>,
}

/// `per_day * factor * days`, saturating.
fn growth(per_day: i64, factor: usize, days: u64) -> i64 {
    let factor = i64::try_from(factor).unwrap_or(i64::MAX);
    let days = i64::try_from(days).unwrap_or(i64::MAX);
    per_day.saturating_mul(factor).saturating_mul(days)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl AnalyticsState {
    /// The sandbox day (0 at start).
    pub fn day(&self) -> u64 {
        self.day
    }

    /// Moves the day counter on by `days`; returns the new day.
    pub fn advance_days(&mut self, days: u64) -> u64 {
        self.day = self.day.saturating_add(days);
        self.day
    }

    /// Sets `open_id`'s profile counts as of today (negative counts as 0).
    pub fn set_profile(&mut self, open_id: &str, followers: i64, following: i64, likes: i64) {
        let day = self.day;
        self.users.entry(open_id.to_owned()).or_default().profile = Profile {
            followers: followers.max(0),
            following: following.max(0),
            likes: likes.max(0),
            since_day: day,
        };
    }

    /// `open_id`'s stats today.
    pub fn profile(&self, open_id: &str) -> ProfileStats {
        let (profile, videos) = self
            .users
            .get(open_id)
            .map(|u| (u.profile, u.videos.len()))
            .unwrap_or_default();
        let days = self.day.saturating_sub(profile.since_day);
        ProfileStats {
            follower_count: profile
                .followers
                .saturating_add(growth(FOLLOWERS_PER_DAY, 1, days)),
            following_count: profile.following,
            likes_count: profile
                .likes
                .saturating_add(growth(PROFILE_LIKES_PER_DAY, 1, days)),
            video_count: i64::try_from(videos).unwrap_or(i64::MAX),
        }
    }

    /// A fresh 19-digit video id, like TikTok's post ids.
    fn new_id(&mut self) -> i64 {
        loop {
            let id = rand::random_range(7_000_000_000_000_000_000_i64..=7_999_999_999_999_999_999);
            if self.ids.insert(id.to_string()) {
                return id;
            }
        }
    }

    /// Appends a video with zero counts; its create time is `create_time_ms`
    /// or later, and later than the user's newest.
    fn push(
        &mut self,
        open_id: &str,
        id: i64,
        create_time_ms: i64,
        title: String,
        description: String,
        duration: i64,
    ) {
        let day = self.day;
        let videos = &mut self.users.entry(open_id.to_owned()).or_default().videos;
        let after_newest = videos
            .last()
            .map_or(i64::MIN, |v| v.create_time_ms.saturating_add(CREATE_GAP_MS));
        videos.push(Video {
            id: id.to_string(),
            create_time_ms: create_time_ms.max(after_newest),
            title,
            description,
            duration,
            views: 0,
            likes: 0,
            comments: 0,
            shares: 0,
            since_day: day,
        });
    }

    /// Adds `count` generated videos to `open_id`'s list, newest last, the
    /// last one created now (or just after the user's newest); returns
    /// their ids, oldest first.
    pub fn add_generated(&mut self, open_id: &str, count: usize) -> Vec<String> {
        let span = i64::try_from(count.saturating_sub(1))
            .unwrap_or(i64::MAX)
            .saturating_mul(CREATE_GAP_MS);
        let first = now_ms().saturating_sub(span);
        let mut ids = Vec::with_capacity(count);
        for k in 0..count {
            let n = self.users.get(open_id).map_or(0, |u| u.videos.len()) + 1;
            let id = self.new_id();
            let offset = i64::try_from(k)
                .unwrap_or(i64::MAX)
                .saturating_mul(CREATE_GAP_MS);
            self.push(
                open_id,
                id,
                first.saturating_add(offset),
                format!("Sandbox video {n}"),
                format!("Sandbox video {n} #sandbox"),
                i64::try_from(5 + (n * 7) % 56).unwrap_or(5),
            );
            ids.push(id.to_string());
        }
        ids
    }

    /// Adds a video just published by `open_id` with caption `title`;
    /// returns its id (the post id).
    pub fn add_published(&mut self, open_id: &str, title: &str) -> i64 {
        let id = self.new_id();
        self.push(
            open_id,
            id,
            now_ms(),
            title.to_owned(),
            title.to_owned(),
            PUBLISHED_DURATION,
        );
        id
    }

    /// Sets one video's counts as of today (negative counts as 0); false
    /// when `open_id` has no such video.
    pub fn set_video_counts(&mut self, open_id: &str, video_id: &str, counts: [i64; 4]) -> bool {
        let day = self.day;
        let Some(video) = self
            .users
            .get_mut(open_id)
            .and_then(|u| u.videos.iter_mut().find(|v| v.id == video_id))
        else {
            return false;
        };
        let [views, likes, comments, shares] = counts.map(|c| c.max(0));
        video.views = views;
        video.likes = likes;
        video.comments = comments;
        video.shares = shares;
        video.since_day = day;
        true
    }

    fn view(&self, open_id: &str, position: usize, v: &Video) -> VideoView {
        let days = self.day.saturating_sub(v.since_day);
        let f = position + 1;
        VideoView {
            id: v.id.clone(),
            create_time: v.create_time_ms.div_euclid(1000),
            title: v.title.clone(),
            cover_image_url: format!(
                "https://sandbox.tiktokcdn.example/{open_id}/{}/cover.jpeg",
                v.id
            ),
            share_url: format!("https://www.tiktok.com/@sandbox_{open_id}/video/{}", v.id),
            video_description: v.description.clone(),
            duration: v.duration,
            view_count: v.views.saturating_add(growth(VIEWS_PER_DAY, f, days)),
            like_count: v.likes.saturating_add(growth(LIKES_PER_DAY, f, days)),
            comment_count: v.comments.saturating_add(growth(COMMENTS_PER_DAY, f, days)),
            share_count: v.shares.saturating_add(growth(SHARES_PER_DAY, f, days)),
        }
    }

    /// `open_id`'s videos today, newest first.
    pub fn videos(&self, open_id: &str) -> Vec<VideoView> {
        self.page(open_id, None, usize::MAX).videos
    }

    /// Up to `max` of `open_id`'s videos created strictly before `cursor`
    /// (Unix ms; `None` for the newest), newest first.
    pub fn page(&self, open_id: &str, cursor: Option<i64>, max: usize) -> Page {
        let videos = self.users.get(open_id).map_or(&[][..], |u| &u.videos[..]);
        let mut older = videos
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, v)| cursor.is_none_or(|c| v.create_time_ms < c));
        let page: Vec<(usize, &Video)> = older.by_ref().take(max).collect();
        let has_more = older.next().is_some();
        Page {
            cursor: page
                .last()
                .map_or(cursor.unwrap_or(0), |(_, v)| v.create_time_ms),
            videos: page
                .into_iter()
                .map(|(i, v)| self.view(open_id, i, v))
                .collect(),
            has_more,
        }
    }

    /// Those of `ids` that are `open_id`'s videos, in the order asked, each
    /// once.
    pub fn query(&self, open_id: &str, ids: &[String]) -> Vec<VideoView> {
        let videos = self.users.get(open_id).map_or(&[][..], |u| &u.videos[..]);
        let mut seen = HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| videos.iter().enumerate().find(|(_, v)| &v.id == id))
            .map(|(i, v)| self.view(open_id, i, v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_users_answer_zeros() {
        let a = AnalyticsState::default();
        assert_eq!(a.profile("nobody"), ProfileStats::default());
        let page = a.page("nobody", None, 20);
        assert!(page.videos.is_empty());
        assert_eq!((page.cursor, page.has_more), (0, false));
    }

    #[test]
    fn pages_walk_back_without_overlap() {
        let mut a = AnalyticsState::default();
        let ids = a.add_generated("u", 5);
        let first = a.page("u", None, 2);
        let ids_of = |p: &Page| p.videos.iter().map(|v| v.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids_of(&first), vec![ids[4].clone(), ids[3].clone()]);
        assert!(first.has_more);
        let second = a.page("u", Some(first.cursor), 2);
        assert_eq!(ids_of(&second), vec![ids[2].clone(), ids[1].clone()]);
        let third = a.page("u", Some(second.cursor), 2);
        assert_eq!(ids_of(&third), vec![ids[0].clone()]);
        assert!(!third.has_more);
        let empty = a.page("u", Some(third.cursor), 2);
        assert!(empty.videos.is_empty());
        assert_eq!(empty.cursor, third.cursor);
    }

    #[test]
    fn counts_grow_by_the_rule() {
        let mut a = AnalyticsState::default();
        let ids = a.add_generated("u", 2);
        a.set_profile("u", 100, 7, 1000);
        assert!(a.set_video_counts("u", &ids[1], [500, 50, 5, 1]));
        assert!(!a.set_video_counts("u", "1", [1, 1, 1, 1]));
        a.advance_days(3);
        assert_eq!(
            a.profile("u"),
            ProfileStats {
                follower_count: 130,
                following_count: 7,
                likes_count: 1150,
                video_count: 2
            }
        );
        let videos = a.videos("u");
        // Newest (position 1) grows twice as fast as the oldest.
        assert_eq!(
            (
                videos[0].view_count,
                videos[0].like_count,
                videos[0].comment_count,
                videos[0].share_count
            ),
            (500 + 600, 50 + 60, 5 + 6, 1 + 6)
        );
        assert_eq!((videos[1].view_count, videos[1].like_count), (300, 30));
        // Setting counts restarts growth from that day.
        assert!(a.set_video_counts("u", &ids[0], [1, 2, 3, 4]));
        assert_eq!(a.videos("u")[1].view_count, 1);
        assert_eq!(a.advance_days(1), 4);
        assert_eq!(a.videos("u")[1].view_count, 101);
        // A user nothing was set for grows from zero on day 0.
        assert_eq!(a.profile("other").follower_count, 40);
    }

    #[test]
    fn create_times_increase_and_ids_are_unique() {
        let mut a = AnalyticsState::default();
        a.add_generated("u", 3);
        let published = a.add_published("u", "mine");
        a.add_generated("u", 2);
        let videos = a.videos("u");
        assert_eq!(videos.len(), 6);
        assert!(
            videos
                .windows(2)
                .all(|w| w[0].create_time > w[1].create_time)
        );
        assert_eq!(videos[2].id, published.to_string());
        assert_eq!(videos[2].title, "mine");
        let unique: HashSet<_> = videos.iter().map(|v| v.id.clone()).collect();
        assert_eq!(unique.len(), 6);
        let query = a.query(
            "u",
            &[videos[1].id.clone(), "42".into(), videos[1].id.clone()],
        );
        assert_eq!(query, vec![videos[1].clone()]);
        assert!(a.query("other", &[videos[1].id.clone()]).is_empty());
    }
}
