//! What a user does with posts: send one uploaded video to up to 20 of
//! their accounts, now or at a chosen time; list and see them, target by
//! target; move or change one that has not started; cancel what has not
//! started.
//!
//! A future post gets a one-time EventBridge Scheduler schedule that sends
//! `{"step": "post", "post_id"}` to the publish queue at its time; a post
//! for now goes to the queue at once. upload-publish takes it from there
//! (`service::publish`), one target at a time, each exactly once. Another
//! user's post, video or account is "not found", like a missing one.

use std::fmt;

use serde::Serialize;

use crate::{
    adapters::{
        s3::{BucketError, UploadBucket},
        scheduler::{ScheduleError, Schedules},
        sqs::{Queue, QueueError},
        store::{
            Store,
            posts::{PostCursor, PostQuery},
            uploads::UploadItem,
        },
    },
    domain::{
        account::{Account, AccountStatus},
        creator::{AppAudit, CREATOR_INFO_VALID_SECONDS, check_settings},
        ids::{PostId, UploadId, UserId},
        ports::{AccountStore, StoreError},
        post::{
            InvalidPost, NewPost, Post, PostPatch, PostStatus, PostView, SCHEDULE_PRECISION,
            publish_time, queue_delay,
        },
        upload::{InvalidUpload, PublishMode, Upload, UploadStatus, check_post},
    },
    service::{
        limits::{LimitError, Limiter},
        media::release_media_if_settled,
        publish::FollowUp,
    },
    support::{clock::Clock, errors::chain_line},
};

/// The longest page of posts.
pub const MAX_PAGE: i32 = 50;

#[derive(thiserror::Error)]
pub enum PostsError {
    /// The post is absent or not the caller's.
    #[error("not found")]
    NotFound,
    /// The video is absent, not the caller's, or not media for posts.
    #[error("no such video for posts")]
    MediaNotFound,
    #[error("the video failed verification: {0}")]
    MediaFailed(String),
    /// A target account is absent or not the caller's.
    #[error("account {0} not found")]
    AccountNotFound(String),
    #[error("account {0} is {1:?}, not active")]
    AccountNotActive(String, AccountStatus),
    #[error("account {0} did not grant {1}")]
    ScopeMissing(String, &'static str),
    #[error("a target has started; the post can no longer change")]
    Started,
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Invalid(#[from] crate::domain::post::InvalidPost),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for PostsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

impl From<StoreError> for PostsError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<ScheduleError> for PostsError {
    fn from(e: ScheduleError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<QueueError> for PostsError {
    fn from(e: QueueError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<BucketError> for PostsError {
    fn from(e: BucketError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<InvalidUpload> for PostsError {
    fn from(e: InvalidUpload) -> Self {
        Self::Invalid(e.into())
    }
}

/// A page of posts.
#[derive(Debug, Serialize)]
pub struct PostListing {
    pub posts: Vec<PostView>,
    pub next_cursor: Option<String>,
}

/// `GET /posts`'s query, as the client sends it.
#[derive(Debug, Default)]
pub struct ListRequest {
    pub account_id: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Clone)]
pub struct Posts {
    store: Store,
    limiter: Limiter,
    bucket: UploadBucket,
    queue: Queue,
    schedules: Schedules,
    clock: Clock,
    audit: AppAudit,
}

/// The adapters the posts API works through, built once at cold start.
pub struct PostsAdapters {
    pub store: Store,
    pub bucket: UploadBucket,
    pub queue: Queue,
    pub schedules: Schedules,
}

impl Posts {
    pub fn new(adapters: PostsAdapters, clock: Clock) -> Self {
        let PostsAdapters {
            store,
            bucket,
            queue,
            schedules,
        } = adapters;
        Self {
            limiter: Limiter::new(store.clone(), clock.clone()),
            store,
            bucket,
            queue,
            schedules,
            clock,
            audit: AppAudit::Unaudited,
        }
    }

    /// Whether TikTok has audited the app (which privacy levels posts take).
    pub fn with_audit(self, audit: AppAudit) -> Self {
        Self { audit, ..self }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One call of `user`'s to the API, counted against the per-user limit.
    pub async fn admit_api_call(&self, user: &UserId) -> Result<(), PostsError> {
        Ok(self.limiter.admit_api_call(user).await?)
    }

    /// Records a post of the caller's video to the caller's accounts, and
    /// schedules it (or sends it on now).
    #[tracing::instrument(name = "posts.create", skip_all, fields(user = %user, targets = request.targets.len()))]
    pub async fn create(&self, user: &UserId, request: NewPost) -> Result<PostView, PostsError> {
        let media = match self.store.get_upload_item(&request.media_id).await? {
            Some(UploadItem::Media(media)) if &media.owner == user => media,
            _ => return Err(PostsError::MediaNotFound),
        };
        if media.status == UploadStatus::Failed {
            return Err(PostsError::MediaFailed(media.error.unwrap_or_default()));
        }
        let now = self.clock.now();
        for (id, overrides) in &request.targets {
            let account = check_account(
                self.store.get_account(id).await?,
                user,
                id.as_ref(),
                request.mode,
            )?;
            if request.mode == PublishMode::Direct {
                let creator = self
                    .store
                    .kept_creator(&account, now, CREATOR_INFO_VALID_SECONDS)
                    .await?;
                check_settings(
                    &overrides.apply(&request.post),
                    self.audit,
                    creator.as_ref(),
                )
                .map_err(|error| InvalidPost::Target(id.to_string(), error))?;
            }
        }
        let post = Post::new(PostId::generate(), user.clone(), request, now);
        let targets = post.target_uploads(&media, now);
        match self.store.create_post(&post, &targets).await {
            Ok(()) => {}
            Err(StoreError::NotLeasable) => return Err(PostsError::MediaNotFound),
            Err(e) => return Err(e.into()),
        }
        // Arrived before or while the post was written: keep it from now on.
        if let Some(UploadItem::Media(media)) = self.store.get_upload_item(&media.id).await?
            && media.status == UploadStatus::Ready
        {
            self.bucket
                .set_retention(&media.id.media_key(), true)
                .await?;
        }
        if let Err(e) = self.schedule(&post).await {
            tracing::error!(error = %chain_line(&e), "could not schedule the post; undoing it");
            if let Err(undo) = self.store.delete_post(&post).await {
                tracing::error!(error = %chain_line(&undo), "could not undo the post");
            }
            return Err(e);
        }
        tracing::info!(post_id = %post.id, publish_at = %post.publish_at, "post recorded");
        let uploads: Vec<Option<Upload>> = targets.into_iter().map(Some).collect();
        Ok(post.view(&uploads))
    }

    /// Sets the post's schedule; a post due within the scheduler's
    /// precision goes through the queue's delay instead.
    async fn schedule(&self, post: &Post) -> Result<(), PostsError> {
        let message = FollowUp::post(&post.id);
        let now = self.clock.now();
        if post.publish_at <= now + SCHEDULE_PRECISION {
            self.queue
                .send(&message, queue_delay(post.publish_at, now))
                .await?;
        } else {
            self.schedules
                .put(&post.schedule_name(), post.publish_at, &message)
                .await?;
        }
        Ok(())
    }

    #[tracing::instrument(name = "posts.get", skip_all, fields(user = %user, post_id = %id))]
    pub async fn get(&self, user: &UserId, id: &PostId) -> Result<PostView, PostsError> {
        let post = self.owned(user, id).await?;
        self.view(&post).await
    }

    /// One page of the caller's posts, latest `publish_at` first.
    #[tracing::instrument(name = "posts.list", skip_all, fields(user = %user))]
    pub async fn list(
        &self,
        user: &UserId,
        request: ListRequest,
    ) -> Result<PostListing, PostsError> {
        let time = |raw: Option<&String>, name: &str| {
            raw.map(|raw| {
                chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        PostsError::InvalidQuery(format!("{name} must be an RFC 3339 time"))
                    })
            })
            .transpose()
        };
        let status = request
            .status
            .as_deref()
            .map(|s| {
                PostStatus::parse(s).ok_or_else(|| {
                    PostsError::InvalidQuery(
                        "status must be one of scheduled, publishing, published, \
                         partially_failed, failed, cancelled"
                            .into(),
                    )
                })
            })
            .transpose()?;
        let limit = match request.limit.as_deref() {
            None => 20,
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| PostsError::InvalidQuery(format!("limit must be 1-{MAX_PAGE}")))?,
        };
        let start = request
            .cursor
            .as_deref()
            .map(|raw| PostCursor::decode(raw, user).ok_or(PostsError::InvalidCursor))
            .transpose()?;
        let query = PostQuery {
            from: time(request.from.as_ref(), "from")?,
            to: time(request.to.as_ref(), "to")?,
            account_id: request.account_id,
            limit,
        };
        let page = self.store.posts_of(user, &query, start.as_ref()).await?;
        let mut posts = Vec::with_capacity(page.posts.len());
        for post in &page.posts {
            let view = self.view(post).await?;
            if status.is_none_or(|s| s == view.status) {
                posts.push(view);
            }
        }
        Ok(PostListing {
            posts,
            next_cursor: page.next.map(|c| c.encode()),
        })
    }

    /// Moves a post that has not started, and/or changes its settings.
    #[tracing::instrument(name = "posts.change", skip_all, fields(user = %user, post_id = %id))]
    pub async fn change(
        &self,
        user: &UserId,
        id: &PostId,
        patch: PostPatch,
    ) -> Result<PostView, PostsError> {
        if patch.publish_at.is_none() && patch.post.is_none() {
            return Err(InvalidPost::EmptyPatch.into());
        }
        let post = self.owned(user, id).await?;
        if post.started_at.is_some() || post.cancelled_at.is_some() {
            return Err(PostsError::Started);
        }
        let now = self.clock.now();
        let publish_at = match patch.publish_at.as_deref() {
            Some(raw) => publish_time(Some(raw), now)?,
            None => post.publish_at,
        };
        let settings = patch.post.unwrap_or_else(|| post.post.clone());
        let mut targets = Vec::with_capacity(post.targets.len());
        for target in &post.targets {
            let merged = check_post(post.mode, target.post.apply(&settings))?;
            if post.mode == PublishMode::Direct {
                check_settings(&merged, self.audit, None)
                    .map_err(|error| InvalidPost::Target(target.account_id.to_string(), error))?;
            }
            targets.push((target.upload_id.clone(), merged));
        }
        if post.mode == PublishMode::Inbox {
            check_post(post.mode, settings.clone())?;
        }
        let changed = Post {
            publish_at,
            post: settings,
            updated_at: now,
            ..post
        };
        match self.store.change_post(&changed, &targets, now).await {
            Ok(()) => {}
            Err(StoreError::NotLeasable) => return Err(PostsError::Started),
            Err(e) => return Err(e.into()),
        }
        if changed.publish_at <= now + SCHEDULE_PRECISION {
            // Sent through the queue: the old schedule is not needed.
            self.schedules.delete(&changed.schedule_name()).await?;
        }
        self.schedule(&changed).await?;
        tracing::info!(publish_at = %changed.publish_at, "post changed");
        self.view(&changed).await
    }

    /// Cancels every target that has not started; a post that has not
    /// started will not.
    #[tracing::instrument(name = "posts.cancel", skip_all, fields(user = %user, post_id = %id))]
    pub async fn cancel(&self, user: &UserId, id: &PostId) -> Result<PostView, PostsError> {
        let post = self.owned(user, id).await?;
        let now = self.clock.now();
        self.store.cancel_post(id, now).await?;
        if let Err(e) = self.schedules.delete(&post.schedule_name()).await {
            // It fires into a cancelled post, which changes nothing.
            tracing::warn!(error = %chain_line(&e), "could not delete the post's schedule");
        }
        let mut cancelled = 0;
        for target in &post.targets {
            match self.store.cancel_target(&target.upload_id, now).await {
                Ok(()) => cancelled += 1,
                Err(StoreError::NotLeasable) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(cancelled, "post cancelled");
        if let Err(e) = release_media_if_settled(&self.store, &self.bucket, &post.media_id).await {
            tracing::warn!(error = %chain_line(&e), "could not release the video");
        }
        let post = self.owned(user, id).await?;
        self.view(&post).await
    }

    /// The caller's post, or `NotFound`.
    async fn owned(&self, user: &UserId, id: &PostId) -> Result<Post, PostsError> {
        match self.store.get_post(id).await? {
            Some(post) if &post.owner == user => Ok(post),
            _ => Err(PostsError::NotFound),
        }
    }

    async fn view(&self, post: &Post) -> Result<PostView, PostsError> {
        let ids: Vec<UploadId> = post.targets.iter().map(|t| t.upload_id.clone()).collect();
        let uploads = self.store.get_uploads(&ids).await?;
        Ok(post.view(&uploads))
    }
}

/// Whether `user` may post to `account` in `mode`: their own, active,
/// with the mode's scope granted.
fn check_account(
    account: Option<Account>,
    user: &UserId,
    id: &str,
    mode: PublishMode,
) -> Result<Account, PostsError> {
    let account = match account {
        Some(account) if &account.owner == user => account,
        _ => return Err(PostsError::AccountNotFound(id.to_owned())),
    };
    if account.status != AccountStatus::Active {
        return Err(PostsError::AccountNotActive(id.to_owned(), account.status));
    }
    if !account.scopes.contains(mode.scope()) {
        return Err(PostsError::ScopeMissing(id.to_owned(), mode.scope()));
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::sample::account;

    #[test]
    fn only_the_callers_active_accounts_with_the_scope_are_targets() {
        use AccountStatus::*;
        let alice = UserId::parse("alice").unwrap();
        let all = "user.info.basic,video.upload,video.publish";
        let check = |a, mode| match check_account(a, &alice, "x", mode) {
            Ok(_) => "ok",
            Err(PostsError::AccountNotFound(_)) => "not_found",
            Err(PostsError::AccountNotActive(..)) => "not_active",
            Err(PostsError::ScopeMissing(..)) => "scope",
            Err(e) => panic!("{e}"),
        };
        use PublishMode::*;
        assert_eq!(check(None, Direct), "not_found");
        assert_eq!(
            check(Some(account("bob", Active, all)), Direct),
            "not_found"
        );
        assert_eq!(
            check(Some(account("alice", ReauthRequired, all)), Direct),
            "not_active"
        );
        assert_eq!(
            check(Some(account("alice", Active, "video.upload")), Direct),
            "scope"
        );
        assert_eq!(
            check(Some(account("alice", Active, "video.upload")), Inbox),
            "ok"
        );
        assert_eq!(check(Some(account("alice", Active, all)), Direct), "ok");
    }
}
