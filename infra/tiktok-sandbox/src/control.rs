//! Test controls for Content Posting, webhooks and analytics:
//! [`RunningSandbox`] methods and their `/sandbox/...` HTTP twins.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State as AxumState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::{
    analytics::{ProfileStats, VideoView},
    posting::{PublishOutcome, PublishView},
    server::{RunningSandbox, Shared},
    webhooks::{self, WebhookDelivery},
};

impl RunningSandbox {
    /// Sets the `privacy_level_options` creator_info reports for `open_id`
    /// (and that direct-post inits must pick from). Default: a public
    /// account's `PUBLIC_TO_EVERYONE`, `MUTUAL_FOLLOW_FRIENDS`, `SELF_ONLY`.
    pub fn set_privacy_options(&self, open_id: &str, options: Vec<String>) {
        self.shared
            .state()
            .posting
            .privacy_options
            .insert(open_id.to_owned(), options);
    }

    /// Whether the app has passed TikTok's audit (it has, by default). An
    /// unaudited app's direct posts must be `SELF_ONLY`.
    pub fn set_audited(&self, audited: bool) {
        self.shared.state().posting.unaudited = !audited;
    }

    /// Turns interactions off in `open_id`'s TikTok settings, as creator
    /// info reports them: `[comment, duet, stitch]`.
    pub fn set_interactions_off(&self, open_id: &str, off: [bool; 3]) {
        self.shared
            .state()
            .posting
            .interactions_off
            .insert(open_id.to_owned(), off);
    }

    /// Sets the `max_video_post_duration_sec` creator_info reports for
    /// `open_id` (600 by default). A direct post of a longer video fails
    /// `duration_check_failed` once uploaded.
    pub fn set_max_duration(&self, open_id: &str, seconds: u32) {
        self.shared
            .state()
            .posting
            .max_duration
            .insert(open_id.to_owned(), seconds);
    }

    /// Blocks `open_id` from posting with error `code` (e.g.
    /// `spam_risk_user_banned_from_posting`): creator_info answers it with
    /// HTTP 200, both inits with 403. `None` lifts the block.
    pub fn set_posting_block(&self, open_id: &str, code: Option<String>) {
        let mut state = self.shared.state();
        match code {
            Some(code) => state.posting.blocks.insert(open_id.to_owned(), code),
            None => state.posting.blocks.remove(open_id),
        };
    }

    /// What happens to publishes whose upload completes from now on.
    pub fn set_outcome(&self, outcome: PublishOutcome) {
        self.shared.state().posting.outcome = outcome;
    }

    /// How long a completed upload stays `PROCESSING_UPLOAD` before it
    /// settles (default: no delay).
    pub fn set_processing_delay(&self, delay: Duration) {
        self.shared.state().posting.processing_delay = delay;
    }

    /// Upload URLs issued from now on name `host` (e.g. `localhost` for a
    /// sandbox on 127.0.0.1): the same server under another origin.
    pub fn set_upload_host(&self, host: Option<&str>) {
        self.shared.state().posting.upload_host = host.map(str::to_owned);
    }

    /// Expires every upload URL issued so far (their PUTs get 403).
    pub fn expire_upload_urls(&self) {
        expire_all(&self.shared);
    }

    /// Sets the per-access-token, per-minute limit for requests to `path`
    /// (overriding the documented one; 0 refuses every request).
    pub fn set_rate_limit(&self, path: &str, per_minute: u32) {
        self.shared
            .state()
            .rate
            .overrides
            .insert(path.to_owned(), per_minute);
    }

    /// Every publish so far, oldest first.
    pub fn publishes(&self) -> Vec<PublishView> {
        self.shared.state().posting.views()
    }

    /// One publish, if it exists.
    pub fn publish(&self, publish_id: &str) -> Option<PublishView> {
        self.shared.state().posting.view(publish_id)
    }

    /// Successful video init calls (direct and inbox) by `open_id`.
    pub fn inits(&self, open_id: &str) -> u64 {
        self.shared
            .state()
            .posting
            .inits
            .get(open_id)
            .copied()
            .unwrap_or(0)
    }

    /// Every webhook delivery attempt so far, in order.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.state().webhooks.deliveries.clone()
    }

    /// Where webhooks go from now on; `None` stops them.
    pub fn set_webhook_url(&self, url: Option<Url>) {
        self.shared.state().webhooks.url = url;
    }

    /// Turns webhook sending off (events are dropped, not queued) or on.
    pub fn set_webhooks_enabled(&self, enabled: bool) {
        self.shared.state().webhooks.enabled = enabled;
    }

    /// Plays the user (or TikTok) removing the authorization: revokes every
    /// grant of `open_id`, then sends `authorization.removed` with `reason`
    /// (0 unknown, 1 user disconnected, 2 account deleted, 3 age changed,
    /// 4 account banned, 5 developer revoked).
    pub fn send_authorization_removed(&self, open_id: &str, reason: i64) {
        webhooks::authorization_removed(&self.shared, open_id, reason);
    }

    /// Sends the last acknowledged webhook again, byte for byte (same body
    /// and signature), to the current webhook URL. False when there is
    /// nothing to resend or no URL.
    pub fn redeliver_last_webhook(&self) -> bool {
        webhooks::redeliver_last(&self.shared)
    }

    /// Sets `open_id`'s follower, following and likes counts as of today;
    /// followers and likes grow from here as the days pass (see
    /// `advance_days`).
    pub fn set_profile_stats(&self, open_id: &str, followers: i64, following: i64, likes: i64) {
        self.shared
            .state()
            .analytics
            .set_profile(open_id, followers, following, likes);
    }

    /// Adds `count` generated videos (ids, titles, create times) to
    /// `open_id`'s list, newest last, with zero counts; returns their ids,
    /// oldest first.
    pub fn add_videos(&self, open_id: &str, count: usize) -> Vec<String> {
        self.shared.state().analytics.add_generated(open_id, count)
    }

    /// Sets one video's counts as of today; false when `open_id` has no
    /// video `video_id`.
    pub fn set_video_counts(
        &self,
        open_id: &str,
        video_id: &str,
        views: i64,
        likes: i64,
        comments: i64,
        shares: i64,
    ) -> bool {
        self.shared.state().analytics.set_video_counts(
            open_id,
            video_id,
            [views, likes, comments, shares],
        )
    }

    /// Lets `days` sandbox days pass: counts grow by the rule in
    /// [`crate::analytics`] (followers +10 a day, the video at position `i`
    /// +100 × (i + 1) views a day, ...). Returns the new day.
    pub fn advance_days(&self, days: u64) -> u64 {
        self.shared.state().analytics.advance_days(days)
    }

    /// The sandbox day (0 at start).
    pub fn sandbox_day(&self) -> u64 {
        self.shared.state().analytics.day()
    }

    /// `open_id`'s stats today, as `/v2/user/info/` reports them.
    pub fn profile_stats(&self, open_id: &str) -> ProfileStats {
        self.shared.state().analytics.profile(open_id)
    }

    /// `open_id`'s videos today, newest first, with every field.
    pub fn videos(&self, open_id: &str) -> Vec<VideoView> {
        self.shared.state().analytics.videos(open_id)
    }
}

fn expire_all(shared: &Shared) {
    for p in shared.state().posting.publishes.values_mut() {
        p.expired = true;
    }
}

/// The `/sandbox/...` routes for the controls above.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sandbox/privacy-options", post(privacy_options))
        .route("/sandbox/posting-block", post(posting_block))
        .route("/sandbox/audited", post(audited))
        .route("/sandbox/interactions", post(interactions))
        .route("/sandbox/max-duration", post(max_duration))
        .route("/sandbox/outcome", post(outcome))
        .route("/sandbox/processing-delay", post(processing_delay))
        .route("/sandbox/expire-uploads", post(expire_uploads))
        .route("/sandbox/rate-limits", post(rate_limits))
        .route("/sandbox/publishes", get(publishes))
        .route("/sandbox/publishes/{publish_id}", get(publish))
        .route("/sandbox/inits", get(inits))
        .route("/sandbox/webhooks", get(deliveries))
        .route("/sandbox/webhooks/url", post(webhook_url))
        .route("/sandbox/webhooks/enabled", post(webhooks_enabled))
        .route("/sandbox/webhooks/redeliver", post(redeliver))
        .route(
            "/sandbox/authorization-removed",
            post(authorization_removed),
        )
        .route("/sandbox/analytics/profile", post(analytics_profile))
        .route("/sandbox/analytics/videos", post(analytics_videos))
        .route("/sandbox/analytics/video-counts", post(analytics_counts))
        .route("/sandbox/analytics/advance-days", post(advance_days))
        .route("/sandbox/analytics/{open_id}", get(analytics))
}

#[derive(Deserialize)]
struct PrivacyOptions {
    open_id: String,
    options: Vec<String>,
}

async fn privacy_options(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<PrivacyOptions>,
) -> StatusCode {
    shared
        .state()
        .posting
        .privacy_options
        .insert(body.open_id, body.options);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PostingBlock {
    open_id: String,
    #[serde(default)]
    code: Option<String>,
}

async fn posting_block(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<PostingBlock>,
) -> StatusCode {
    let mut state = shared.state();
    match body.code {
        Some(code) => state.posting.blocks.insert(body.open_id, code),
        None => state.posting.blocks.remove(&body.open_id),
    };
    StatusCode::NO_CONTENT
}

async fn outcome(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(outcome): Json<PublishOutcome>,
) -> StatusCode {
    shared.state().posting.outcome = outcome;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Millis {
    ms: u64,
}

async fn processing_delay(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<Millis>,
) -> StatusCode {
    shared.state().posting.processing_delay = Duration::from_millis(body.ms);
    StatusCode::NO_CONTENT
}

async fn expire_uploads(AxumState(shared): AxumState<Arc<Shared>>) -> StatusCode {
    expire_all(&shared);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RateLimit {
    path: String,
    per_minute: u32,
}

async fn rate_limits(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<RateLimit>,
) -> StatusCode {
    shared
        .state()
        .rate
        .overrides
        .insert(body.path, body.per_minute);
    StatusCode::NO_CONTENT
}

async fn publishes(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Vec<PublishView>> {
    Json(shared.state().posting.views())
}

async fn publish(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(publish_id): Path<String>,
) -> Response {
    match shared.state().posting.view(&publish_id) {
        Some(view) => Json(view).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn inits(AxumState(shared): AxumState<Arc<Shared>>) -> Json<HashMap<String, u64>> {
    Json(shared.state().posting.inits.clone())
}

async fn deliveries(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Vec<WebhookDelivery>> {
    Json(shared.state().webhooks.deliveries.clone())
}

#[derive(Deserialize)]
struct WebhookUrl {
    #[serde(default)]
    url: Option<String>,
}

async fn webhook_url(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<WebhookUrl>,
) -> StatusCode {
    let url = match body.url.as_deref().map(Url::parse).transpose() {
        Ok(url) => url,
        Err(_) => return StatusCode::BAD_REQUEST,
    };
    shared.state().webhooks.url = url;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

#[derive(Deserialize)]
struct Audited {
    audited: bool,
}

/// A creator's interactions turned off in their TikTok settings.
#[derive(Deserialize)]
struct InteractionsOff {
    open_id: String,
    #[serde(default)]
    comment: bool,
    #[serde(default)]
    duet: bool,
    #[serde(default)]
    stitch: bool,
}

async fn interactions(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<InteractionsOff>,
) -> StatusCode {
    shared
        .state()
        .posting
        .interactions_off
        .insert(body.open_id, [body.comment, body.duet, body.stitch]);
    StatusCode::NO_CONTENT
}

/// A creator's `max_video_post_duration_sec`.
#[derive(Deserialize)]
struct MaxDuration {
    open_id: String,
    seconds: u32,
}

async fn max_duration(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<MaxDuration>,
) -> StatusCode {
    shared
        .state()
        .posting
        .max_duration
        .insert(body.open_id, body.seconds);
    StatusCode::NO_CONTENT
}

async fn audited(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<Audited>,
) -> StatusCode {
    shared.state().posting.unaudited = !body.audited;
    StatusCode::NO_CONTENT
}

async fn webhooks_enabled(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<Enabled>,
) -> StatusCode {
    shared.state().webhooks.enabled = body.enabled;
    StatusCode::NO_CONTENT
}

async fn redeliver(AxumState(shared): AxumState<Arc<Shared>>) -> StatusCode {
    if webhooks::redeliver_last(&shared) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct AuthorizationRemoved {
    open_id: String,
    #[serde(default)]
    reason: i64,
}

async fn authorization_removed(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<AuthorizationRemoved>,
) -> StatusCode {
    webhooks::authorization_removed(&shared, &body.open_id, body.reason);
    StatusCode::ACCEPTED
}

#[derive(Deserialize)]
struct ProfileBody {
    open_id: String,
    #[serde(default)]
    followers: i64,
    #[serde(default)]
    following: i64,
    #[serde(default)]
    likes: i64,
}

async fn analytics_profile(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<ProfileBody>,
) -> StatusCode {
    shared
        .state()
        .analytics
        .set_profile(&body.open_id, body.followers, body.following, body.likes);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct AddVideos {
    open_id: String,
    count: usize,
}

/// Most videos one control call adds.
const MAX_ADDED_VIDEOS: usize = 100_000;

async fn analytics_videos(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<AddVideos>,
) -> Response {
    if body.count > MAX_ADDED_VIDEOS {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let ids = shared
        .state()
        .analytics
        .add_generated(&body.open_id, body.count);
    Json(json!({ "ids": ids })).into_response()
}

#[derive(Deserialize)]
struct VideoCounts {
    open_id: String,
    video_id: String,
    #[serde(default)]
    views: i64,
    #[serde(default)]
    likes: i64,
    #[serde(default)]
    comments: i64,
    #[serde(default)]
    shares: i64,
}

async fn analytics_counts(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<VideoCounts>,
) -> StatusCode {
    let found = shared.state().analytics.set_video_counts(
        &body.open_id,
        &body.video_id,
        [body.views, body.likes, body.comments, body.shares],
    );
    if found {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct Days {
    days: u64,
}

async fn advance_days(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(body): Json<Days>,
) -> Json<Value> {
    let day = shared.state().analytics.advance_days(body.days);
    Json(json!({ "day": day }))
}

/// `{day, user: {follower_count, ..}, videos: [newest first]}`.
async fn analytics(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(open_id): Path<String>,
) -> Json<Value> {
    let state = shared.state();
    Json(json!({
        "day": state.analytics.day(),
        "user": state.analytics.profile(&open_id),
        "videos": state.analytics.videos(&open_id),
    }))
}
