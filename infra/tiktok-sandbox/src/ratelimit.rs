//! Per-access-token, one-minute sliding-window rate limits, as TikTok
//! documents them for the Content Posting and Display API endpoints.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

/// Path of the direct-post init endpoint.
pub(crate) const VIDEO_INIT: &str = "/v2/post/publish/video/init/";
/// Path of the inbox (draft) init endpoint.
pub(crate) const INBOX_INIT: &str = "/v2/post/publish/inbox/video/init/";
/// Path of the creator-info endpoint.
pub(crate) const CREATOR_INFO: &str = "/v2/post/publish/creator_info/query/";
/// Path of the status endpoint.
pub(crate) const STATUS_FETCH: &str = "/v2/post/publish/status/fetch/";
/// Path of the user-info endpoint.
pub(crate) const USER_INFO: &str = "/v2/user/info/";
/// Path of the video-list endpoint.
pub(crate) const VIDEO_LIST: &str = "/v2/video/list/";
/// Path of the video-query endpoint.
pub(crate) const VIDEO_QUERY: &str = "/v2/video/query/";

const WINDOW: Duration = Duration::from_secs(60);

/// The documented per-minute limit for `path`, if it has one.
fn documented(path: &str) -> Option<u32> {
    match path {
        VIDEO_INIT | INBOX_INIT => Some(6),
        CREATOR_INFO => Some(20),
        STATUS_FETCH => Some(30),
        // The Display API's 600, applied per token like the others.
        USER_INFO | VIDEO_LIST | VIDEO_QUERY => Some(600),
        _ => None,
    }
}

/// Limits in force and the recent requests per (path, token).
#[derive(Default)]
pub(crate) struct RateLimits {
    /// Per-minute limits set by a test, overriding the documented ones.
    pub overrides: HashMap<String, u32>,
    windows: HashMap<(String, String), VecDeque<Instant>>,
}

impl RateLimits {
    /// Records a request by `token` on `path`, or returns false (and records
    /// nothing) when the token has used up its limit for the last minute.
    pub fn admit(&mut self, path: &str, token: &str) -> bool {
        let Some(limit) = self
            .overrides
            .get(path)
            .copied()
            .or_else(|| documented(path))
        else {
            return true;
        };
        let now = Instant::now();
        let window = self
            .windows
            .entry((path.to_owned(), token.to_owned()))
            .or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_limits_apply_per_token() {
        let mut limits = RateLimits::default();
        for _ in 0..6 {
            assert!(limits.admit(VIDEO_INIT, "a"));
        }
        assert!(!limits.admit(VIDEO_INIT, "a"));
        assert!(limits.admit(VIDEO_INIT, "b"));
        assert!(limits.admit(INBOX_INIT, "a"));
        for _ in 0..600 {
            assert!(limits.admit(VIDEO_LIST, "a"));
        }
        assert!(!limits.admit(VIDEO_LIST, "a"));
        assert!(limits.admit(VIDEO_QUERY, "a"));
        assert!(limits.admit(USER_INFO, "b"));
        assert!(limits.admit("/v2/oauth/token/", "a"));
    }

    #[test]
    fn overrides_win() {
        let mut limits = RateLimits::default();
        limits.overrides.insert(STATUS_FETCH.into(), 1);
        assert!(limits.admit(STATUS_FETCH, "a"));
        assert!(!limits.admit(STATUS_FETCH, "a"));
        limits.overrides.insert("/v2/user/info/".into(), 0);
        assert!(!limits.admit("/v2/user/info/", "a"));
    }
}
