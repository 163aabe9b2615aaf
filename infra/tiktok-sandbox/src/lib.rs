//! A TikTok sandbox: an HTTP server that behaves as TikTok's documents say
//! (see `shared/tiktok-api.md` in the docs), for local runs and tests.
//!
//! Login Kit and Display API:
//! - `GET /v2/auth/authorize/`: validates the request and redirects back
//!   with `code`, `scopes` and `state`; `sandbox_decision=deny` on the URL
//!   makes it deny (`error=access_denied`), `sandbox_user=<open_id>` picks the
//!   TikTok user who "logs in" (a new user otherwise).
//! - `POST /v2/oauth/token/`: form-encoded, `client_key`; single-use codes
//!   with an exact `redirect_uri` match; strict refresh-token rotation (an
//!   old refresh token gets `invalid_grant`); flat OAuth errors.
//! - `POST /v2/oauth/revoke/` (which also sends the `authorization.removed`
//!   webhook, reason 5).
//! - `GET /v2/user/info/?fields=..`: basic fields need `user.info.basic`
//!   (401 `scope_not_authorized`), profile and stats fields
//!   (`follower_count`, `following_count`, `likes_count`, `video_count`)
//!   `user.info.profile` / `user.info.stats` (400 `scope_permission_missed`).
//! - `POST /v2/video/list/?fields=..` (`video.list`), body `{max_count:
//!   1..=20, cursor}`: the user's videos newest first, only those created
//!   before `cursor` (ms), and the next `cursor` and `has_more`.
//! - `POST /v2/video/query/?fields=..` (`video.list`), body `{filters:
//!   {video_ids: [1..=20 ids]}}`: those of the user's videos.
//! - Both answer only the fields asked for, `invalid_params` otherwise.
//!   Stats and videos come from a per-user model whose counts grow per
//!   sandbox day (see [`analytics`]); a public direct post that completes
//!   adds a video whose id is its `post_id`.
//! - These three allow 600 requests per token per sliding minute.
//!
//! Content Posting API (`{data, error}` envelopes, bearer tokens, per-token
//! sliding-minute rate limits 6/6/20/30, daily caps):
//! - `POST /v2/post/publish/creator_info/query/` (`video.publish`); a posting
//!   block is answered with HTTP 200 and its error code, as documented.
//! - `POST /v2/post/publish/video/init/` (direct post, `video.publish`) and
//!   `POST /v2/post/publish/inbox/video/init/` (`video.upload`): strict
//!   chunk-plan checks, `privacy_level_option_mismatch`,
//!   `unaudited_client_can_only_post_to_private_accounts` (an unaudited
//!   app's direct post that is not `SELF_ONLY`), `invalid_param` for
//!   private branded content, `spam_risk_too_many_posts`,
//!   `spam_risk_too_many_pending_share`, `reached_active_user_cap` (an
//!   unaudited app's sixth posting user in 24 hours; creator_info answers
//!   it too),
//!   `url_ownership_unverified` for `PULL_FROM_URL`; answer `publish_id` and
//!   an `upload_url` on this server.
//! - `PUT /upload/?upload_id=..&upload_token=..`: the upload host. Streams
//!   each chunk (never buffered, up to 128 MB) into a running SHA-256;
//!   sequential `Content-Range` (416), exact `Content-Length` and chunk
//!   lengths (400), expiry (403), unknown upload or token (404); 206 per
//!   chunk, 201 on the last, `Content-Range: bytes 0-{n-1}/{total}` on every
//!   answer. The publish then settles per [`PublishOutcome`], unless the
//!   video runs longer than the creator's `max_video_post_duration_sec`
//!   (600 s for inbox uploads): then it fails `duration_check_failed`, read
//!   from the container as TikTok's checks would.
//! - `POST /v2/post/publish/status/fetch/` (`video.upload` or
//!   `video.publish`): `PROCESSING_UPLOAD`, `SEND_TO_USER_INBOX`,
//!   `PUBLISH_COMPLETE` or `FAILED`.
//!
//! Webhooks: `post.publish.complete`, `post.publish.publicly_available`,
//! `post.publish.inbox_delivered`, `post.publish.failed` and
//! `authorization.removed`, signed with `TikTok-Signature` (see
//! [`sign_webhook`]) and retried with exponential backoff (5 attempts from
//! 50 ms) until a 2xx.
//!
//! Controls, through [`RunningSandbox`] in tests or over HTTP:
//! - faults (5xx, 429, timeouts, malformed bodies; `after` lets the first
//!   requests through): `POST`/`DELETE /sandbox/faults`; latency:
//!   `POST /sandbox/latency {ms}`; `GET /sandbox/calls`, `POST
//!   /sandbox/grants`, `GET /sandbox/stats`.
//! - `POST /sandbox/privacy-options {open_id, options}`,
//!   `POST /sandbox/posting-block {open_id, code|null}`,
//!   `POST /sandbox/audited {audited}` (true by default; `SANDBOX_APP_AUDITED`),
//!   `POST /sandbox/interactions {open_id, comment, duet, stitch}` (turned off),
//!   `POST /sandbox/max-duration {open_id, seconds}`,
//!   `POST /sandbox/outcome {"outcome": "complete"|"never"}` or
//!   `{"outcome": "fail", "reason": ".."}`, `POST /sandbox/processing-delay
//!   {ms}`, `POST /sandbox/expire-uploads`, `POST /sandbox/rate-limits {path,
//!   per_minute}`.
//! - `GET /sandbox/publishes`, `GET /sandbox/publishes/{publish_id}`,
//!   `GET /sandbox/inits`.
//! - `GET /sandbox/webhooks` (delivery log), `POST /sandbox/webhooks/url
//!   {url|null}`, `POST /sandbox/webhooks/enabled {enabled}`,
//!   `POST /sandbox/webhooks/redeliver`, `POST /sandbox/authorization-removed
//!   {open_id, reason}`.
//! - `PUT /sandbox/sink`: streams any body like a chunk PUT and answers
//!   `{"bytes": n, "sha256": "<hex>"}` (for benchmarks).
//! - Analytics: `POST /sandbox/analytics/profile {open_id, followers,
//!   following, likes}`, `POST /sandbox/analytics/videos {open_id, count}`
//!   (answers `{ids}`), `POST /sandbox/analytics/video-counts {open_id,
//!   video_id, views, likes, comments, shares}`, `POST
//!   /sandbox/analytics/advance-days {days}` (answers `{day}`), `GET
//!   /sandbox/analytics/{open_id}`.

pub mod analytics;
mod api;
mod control;
mod display;
mod posting;
mod ratelimit;
mod server;
mod state;
mod upload;
mod video;
mod webhooks;

pub use analytics::{ProfileStats, VideoView};
pub use posting::{PublishOutcome, PublishView};
pub use server::{RunningSandbox, spawn};
pub use state::{Fault, FaultKind, SandboxConfig};
pub use webhooks::{WebhookDelivery, sign_webhook};
