//! Posts: one media upload sent to 1-20 of a user's accounts, now or at a
//! chosen time. What a client may ask for (and why not), the post as
//! stored, how its targets' states add up to its own, and what the API
//! shows. Each target is published as an upload of its own (see
//! `upload::TargetOf`), so every rule of a single publish holds per target.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ids::{AccountId, PostId, UploadId, UserId},
    time::rfc3339,
    upload::{
        InvalidUpload, Media, NewUpload, PostSettings, PrivacyLevel, PublishMode, TargetOf, Upload,
        UploadStatus, check_post,
    },
};

/// Targets one post may have.
pub const MAX_TARGETS: usize = 20;
/// How far ahead a post may be scheduled.
pub const MAX_AHEAD: Duration = Duration::days(60);
/// How far in the past a `publish_at` may be and still mean "now": the
/// time a client took to send it.
pub const PAST_GRACE: Duration = Duration::minutes(1);

/// Per-target changes to the post's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_level: Option<PrivacyLevel>,
}

impl TargetOverrides {
    /// The post's settings with these changes.
    pub fn apply(&self, post: &PostSettings) -> PostSettings {
        PostSettings {
            title: self.title.clone().or_else(|| post.title.clone()),
            privacy_level: self.privacy_level.or(post.privacy_level),
            ..post.clone()
        }
    }
}

/// `POST /posts` as the client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    pub upload_id: String,
    pub mode: String,
    #[serde(default)]
    pub post: Option<PostSettings>,
    pub targets: Vec<TargetRequest>,
    #[serde(default)]
    pub publish_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    pub account_id: String,
    #[serde(default)]
    pub post: Option<TargetOverrides>,
}

/// `PATCH /posts/{post_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    #[serde(default)]
    pub publish_at: Option<String>,
    #[serde(default)]
    pub post: Option<PostSettings>,
}

/// Why a post request is refused: a 400 with this code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPost {
    #[error("publish_at: {0}")]
    PublishAt(String),
    #[error("a post needs at least one target")]
    NoTargets,
    #[error("a post may have at most {MAX_TARGETS} targets")]
    TooManyTargets,
    #[error("account {0} is a target more than once")]
    DuplicateTarget(String),
    #[error("upload_id must be 32 hex digits")]
    UploadId,
    #[error("nothing to change: send publish_at and/or post")]
    EmptyPatch,
    #[error("{0}")]
    Settings(InvalidUpload),
    /// One target's settings, naming its account.
    #[error("account {0}: {1}")]
    Target(String, InvalidUpload),
}

impl InvalidPost {
    pub fn code(&self) -> &'static str {
        match self {
            Self::PublishAt(_) => "invalid_publish_at",
            Self::NoTargets => "no_targets",
            Self::TooManyTargets => "too_many_targets",
            Self::DuplicateTarget(_) => "duplicate_target",
            Self::UploadId => "invalid_upload_id",
            Self::EmptyPatch => "invalid_body",
            Self::Settings(e) | Self::Target(_, e) => e.code(),
        }
    }
}

impl From<InvalidUpload> for InvalidPost {
    fn from(e: InvalidUpload) -> Self {
        Self::Settings(e)
    }
}

/// A validated post request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    pub media_id: UploadId,
    pub mode: PublishMode,
    pub post: PostSettings,
    pub targets: Vec<(AccountId, TargetOverrides)>,
    pub publish_at: DateTime<Utc>,
}

impl NewPost {
    /// Checks everything that needs neither the media nor the accounts.
    pub fn parse(request: PostRequest, now: DateTime<Utc>) -> Result<Self, InvalidPost> {
        let media_id = UploadId::parse(&request.upload_id).ok_or(InvalidPost::UploadId)?;
        let mode = PublishMode::parse(&request.mode).ok_or(InvalidUpload::Mode)?;
        let post = request.post.unwrap_or_default();
        if request.targets.is_empty() {
            return Err(InvalidPost::NoTargets);
        }
        if request.targets.len() > MAX_TARGETS {
            return Err(InvalidPost::TooManyTargets);
        }
        let mut targets: Vec<(AccountId, TargetOverrides)> = Vec::new();
        for target in request.targets {
            let account = AccountId::parse(target.account_id)
                .map_err(|e| InvalidUpload::AccountId(e.to_string()))?;
            if targets.iter().any(|(a, _)| a == &account) {
                return Err(InvalidPost::DuplicateTarget(account.to_string()));
            }
            let overrides = target.post.unwrap_or_default();
            check_post(mode, overrides.apply(&post))?;
            targets.push((account, overrides));
        }
        if mode == PublishMode::Inbox {
            check_post(mode, post.clone())?;
        }
        let publish_at = publish_time(request.publish_at.as_deref(), now)?;
        Ok(Self {
            media_id,
            mode,
            post,
            targets,
            publish_at,
        })
    }
}

/// When a post runs: `raw` (RFC 3339), from a minute ago (meaning now) to
/// 60 days ahead; absent means now.
pub fn publish_time(raw: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidPost> {
    let Some(raw) = raw else {
        return Ok(now);
    };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            InvalidPost::PublishAt("must be an RFC 3339 time, e.g. 2027-01-15T08:00:00Z".into())
        })?
        .with_timezone(&Utc);
    if at < now - PAST_GRACE {
        return Err(InvalidPost::PublishAt("is in the past".into()));
    }
    if at > now + MAX_AHEAD {
        return Err(InvalidPost::PublishAt("is more than 60 days ahead".into()));
    }
    // A little late means now; whole seconds, the schedule's resolution.
    let at = at.max(now);
    Ok(DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at))
}

/// How early EventBridge Scheduler may fire: it invokes its targets with
/// a minute's precision. A post's message that comes at most this early
/// starts it, and its targets wait on the queue for the exact time; a post
/// due within this long is sent through the queue's delay, not a schedule.
pub const SCHEDULE_PRECISION: Duration = Duration::seconds(60);

/// How long a message for a post due at `at` waits on the queue from
/// `now`: whole seconds, rounded up, none when it is due.
pub fn queue_delay(at: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    let millis = (at - now).num_milliseconds().max(0) as u64;
    std::time::Duration::from_secs(millis.div_ceil(1000))
}

/// One of a post's targets as stored on the post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostTarget {
    pub account_id: AccountId,
    /// The upload that publishes this target.
    pub upload_id: UploadId,
    #[serde(default)]
    pub post: TargetOverrides,
}

/// A post as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub owner: UserId,
    pub media_id: UploadId,
    pub mode: PublishMode,
    pub post: PostSettings,
    pub publish_at: DateTime<Utc>,
    pub targets: Vec<PostTarget>,
    /// When its time came and its targets were sent on: from then on it
    /// can no longer change.
    pub started_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Post {
    pub fn new(id: PostId, owner: UserId, request: NewPost, now: DateTime<Utc>) -> Self {
        let targets = request
            .targets
            .into_iter()
            .map(|(account_id, post)| PostTarget {
                account_id,
                upload_id: UploadId::generate(),
                post,
            })
            .collect();
        Self {
            id,
            owner,
            media_id: request.media_id,
            mode: request.mode,
            post: request.post,
            publish_at: request.publish_at,
            targets,
            started_at: None,
            cancelled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The upload of each target, `scheduled` for the post's time: the
    /// media's video, sent to the target's account with the post's
    /// settings under the target's own.
    pub fn target_uploads(&self, media: &Media, now: DateTime<Utc>) -> Vec<Upload> {
        self.targets
            .iter()
            .map(|t| Upload {
                status: UploadStatus::Scheduled,
                retry_at: Some(self.publish_at),
                target: Some(TargetOf {
                    post_id: self.id.clone(),
                    media_id: media.id.clone(),
                }),
                ..Upload::new(
                    t.upload_id.clone(),
                    self.owner.clone(),
                    NewUpload {
                        account_id: t.account_id.clone(),
                        video_type: media.video_type,
                        size_bytes: media.size_bytes,
                        mode: self.mode,
                        post: t.post.apply(&self.post),
                    },
                    now,
                )
            })
            .collect()
    }

    /// The schedule that starts it.
    pub fn schedule_name(&self) -> String {
        schedule_name(&self.id)
    }
}

pub fn schedule_name(id: &PostId) -> String {
    format!("post-{id}")
}

/// A post's status, from its targets'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    Scheduled,
    Publishing,
    Published,
    PartiallyFailed,
    Failed,
    Cancelled,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Publishing => "publishing",
            Self::Published => "published",
            Self::PartiallyFailed => "partially_failed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Scheduled,
            Self::Publishing,
            Self::Published,
            Self::PartiallyFailed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// A target's status as the API shows it.
pub fn target_status(status: UploadStatus) -> UploadStatus {
    match status {
        UploadStatus::AwaitingUpload | UploadStatus::Uploaded | UploadStatus::Ready => {
            UploadStatus::Waiting
        }
        other => other,
    }
}

/// What a post's targets add up to: `cancelled` when all were cancelled;
/// `scheduled` while none has started; `publishing` while any is under
/// way; then `published`, `failed` or `partially_failed` by the targets
/// that were not cancelled.
pub fn summarize(targets: &[UploadStatus]) -> PostStatus {
    let live: Vec<UploadStatus> = targets
        .iter()
        .map(|s| target_status(*s))
        .filter(|s| *s != UploadStatus::Cancelled)
        .collect();
    if live.is_empty() {
        return PostStatus::Cancelled;
    }
    if live.iter().all(|s| *s == UploadStatus::Scheduled) {
        return PostStatus::Scheduled;
    }
    if live.iter().any(|s| !s.is_final()) {
        return PostStatus::Publishing;
    }
    let published = live
        .iter()
        .filter(|s| **s == UploadStatus::Published)
        .count();
    match published {
        0 => PostStatus::Failed,
        n if n == live.len() => PostStatus::Published,
        _ => PostStatus::PartiallyFailed,
    }
}

/// A post as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PostView {
    pub post_id: String,
    pub upload_id: String,
    pub mode: PublishMode,
    pub status: PostStatus,
    pub publish_at: String,
    pub post: PostSettings,
    pub targets: Vec<TargetView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetView {
    pub account_id: String,
    pub status: UploadStatus,
    pub publish_id: Option<String>,
    pub public_post_id: Option<String>,
    pub error: Option<String>,
    /// When a waiting target tries again.
    pub retry_at: Option<String>,
    pub post: TargetOverrides,
    pub updated_at: String,
}

impl Post {
    /// The post with its targets' uploads (`None` for one not found).
    pub fn view(&self, uploads: &[Option<Upload>]) -> PostView {
        let targets: Vec<TargetView> = self
            .targets
            .iter()
            .zip(uploads.iter().chain(std::iter::repeat(&None)))
            .map(|(target, upload)| match upload {
                Some(u) => TargetView {
                    account_id: target.account_id.to_string(),
                    status: target_status(u.status),
                    publish_id: u.publish_id.as_ref().map(ToString::to_string),
                    public_post_id: u.public_post_id.clone(),
                    error: u.error.clone(),
                    retry_at: u.pending_retry(),
                    post: target.post.clone(),
                    updated_at: rfc3339(u.updated_at),
                },
                None => TargetView {
                    account_id: target.account_id.to_string(),
                    status: UploadStatus::Failed,
                    publish_id: None,
                    public_post_id: None,
                    error: Some("the target's record is missing".into()),
                    retry_at: None,
                    post: target.post.clone(),
                    updated_at: rfc3339(self.updated_at),
                },
            })
            .collect();
        let statuses: Vec<UploadStatus> = targets.iter().map(|t| t.status).collect();
        let updated_at = uploads
            .iter()
            .flatten()
            .map(|u| u.updated_at)
            .chain([self.updated_at])
            .max()
            .unwrap_or(self.updated_at);
        PostView {
            post_id: self.id.to_string(),
            upload_id: self.media_id.to_string(),
            mode: self.mode,
            status: summarize(&statuses),
            publish_at: rfc3339(self.publish_at),
            post: self.post.clone(),
            targets,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn request(targets: &[&str], publish_at: Option<&str>) -> PostRequest {
        PostRequest {
            upload_id: "0123456789abcdef0123456789abcdef".into(),
            mode: "direct".into(),
            post: Some(PostSettings {
                title: Some("One video".into()),
                privacy_level: Some(PrivacyLevel::SelfOnly),
                ..Default::default()
            }),
            targets: targets
                .iter()
                .map(|a| TargetRequest {
                    account_id: (*a).into(),
                    post: None,
                })
                .collect(),
            publish_at: publish_at.map(str::to_owned),
        }
    }

    #[test]
    fn post_requests_parse_or_say_why_not() {
        let code = |r| NewPost::parse(r, now()).unwrap_err().code();
        let ok = NewPost::parse(request(&["a", "b"], None), now()).unwrap();
        assert_eq!(ok.publish_at, now());
        assert_eq!(ok.targets.len(), 2);
        assert_eq!(code(request(&[], None)), "no_targets");
        let many: Vec<String> = (0..21).map(|i| format!("acct-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(code(request(&many, None)), "too_many_targets");
        assert!(NewPost::parse(request(&many[..20], None), now()).is_ok());
        assert_eq!(code(request(&["a", "b", "a"], None)), "duplicate_target");
        assert_eq!(
            code(request(&["a"], Some("tomorrow"))),
            "invalid_publish_at"
        );
        assert_eq!(
            code(request(&["a"], Some("2027-01-15T07:58:59Z"))),
            "invalid_publish_at",
            "more than a minute in the past"
        );
        let late = NewPost::parse(request(&["a"], Some("2027-01-15T07:59:30Z")), now()).unwrap();
        assert_eq!(late.publish_at, now(), "a little late means now");
        let ahead = (now() + MAX_AHEAD).to_rfc3339();
        assert!(NewPost::parse(request(&["a"], Some(&ahead)), now()).is_ok());
        let beyond = (now() + MAX_AHEAD + Duration::seconds(1)).to_rfc3339();
        assert_eq!(code(request(&["a"], Some(&beyond))), "invalid_publish_at");
        let offset =
            NewPost::parse(request(&["a"], Some("2027-01-15T10:00:00+02:00")), now()).unwrap();
        assert_eq!(offset.publish_at, now(), "offsets are read as such");
        let mut bad_id = request(&["a"], None);
        bad_id.upload_id = "x".into();
        assert_eq!(code(bad_id), "invalid_upload_id");
        let mut no_privacy = request(&["a", "b"], None);
        no_privacy.post = None;
        no_privacy.targets[0].post = Some(TargetOverrides {
            privacy_level: Some(PrivacyLevel::SelfOnly),
            ..Default::default()
        });
        assert_eq!(code(no_privacy), "privacy_level_required");
        let mut long = request(&["a"], None);
        long.targets[0].post = Some(TargetOverrides {
            title: Some("a".repeat(2201)),
            ..Default::default()
        });
        assert_eq!(code(long), "title_too_long");
    }

    #[test]
    fn a_post_due_later_waits_whole_seconds_on_the_queue() {
        use std::time::Duration as Std;
        let at = now() + Duration::milliseconds(1500);
        assert_eq!(queue_delay(at, now()), Std::from_secs(2));
        assert_eq!(queue_delay(now(), now()), Std::ZERO);
        assert_eq!(queue_delay(now() - Duration::hours(1), now()), Std::ZERO);
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let post = PostSettings {
            title: Some("base".into()),
            privacy_level: Some(PrivacyLevel::SelfOnly),
            disable_duet: true,
            ..Default::default()
        };
        let changed = TargetOverrides {
            title: Some("mine".into()),
            privacy_level: None,
        }
        .apply(&post);
        assert_eq!(changed.title.as_deref(), Some("mine"));
        assert_eq!(changed.privacy_level, Some(PrivacyLevel::SelfOnly));
        assert!(changed.disable_duet);
    }

    #[test]
    fn each_target_is_a_scheduled_upload_of_the_media_with_its_own_settings() {
        let alice = UserId::parse("alice").unwrap();
        let media = Media::new(
            UploadId::generate(),
            alice.clone(),
            crate::domain::upload::NewMedia {
                video_type: crate::domain::upload::VideoType::WebM,
                size_bytes: 9000,
            },
            now(),
        );
        let mut request = request(&["a", "b"], Some("2027-01-15T09:00:00Z"));
        request.upload_id = media.id.to_string();
        request.targets[1].post = Some(TargetOverrides {
            title: Some("mine".into()),
            privacy_level: None,
        });
        let post = Post::new(
            PostId::generate(),
            alice,
            NewPost::parse(request, now()).unwrap(),
            now(),
        );
        let uploads = post.target_uploads(&media, now());
        assert_eq!(uploads.len(), 2);
        for (upload, target) in uploads.iter().zip(&post.targets) {
            assert_eq!(upload.id, target.upload_id);
            assert_eq!(upload.account_id, target.account_id);
            assert_eq!(upload.status, UploadStatus::Scheduled);
            assert_eq!(upload.retry_at, Some(post.publish_at));
            assert_eq!(upload.size_bytes, 9000);
            assert_eq!(upload.object_key(), media.id.media_key());
            assert_eq!(upload.target.as_ref().unwrap().post_id, post.id);
        }
        assert_eq!(uploads[0].post.title.as_deref(), Some("One video"));
        assert_eq!(uploads[1].post.title.as_deref(), Some("mine"));
        assert_eq!(uploads[1].post.privacy_level, Some(PrivacyLevel::SelfOnly));
    }

    #[test]
    fn a_posts_status_sums_up_its_targets() {
        use PostStatus as P;
        use UploadStatus::*;
        let cases: &[(&[UploadStatus], PostStatus)] = &[
            (&[Scheduled, Scheduled], P::Scheduled),
            (&[Scheduled, Cancelled], P::Scheduled),
            (&[Cancelled, Cancelled], P::Cancelled),
            (&[Publishing, Scheduled], P::Publishing),
            (&[Waiting, Published], P::Publishing),
            (&[Uploaded, Published], P::Publishing),
            (&[Processing, Published], P::Publishing),
            (&[Published, Published], P::Published),
            (&[Published, Cancelled], P::Published),
            (&[Failed, Failed], P::Failed),
            (&[Failed, Cancelled], P::Failed),
            (&[Published, Failed], P::PartiallyFailed),
        ];
        for (targets, expected) in cases {
            assert_eq!(summarize(targets), *expected, "{targets:?}");
        }
    }
}
