//! Posts, their targets and the media they send.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | post | `POST#{post_id}` | `POST` |
//! | target | `UPLOAD#{upload_id}` (`kind` = `target`) | `UPLOAD` |
//! | media | `UPLOAD#{upload_id}` (`kind` = `media`) | `UPLOAD` |
//!
//! A post, its targets and its place in the media's `posts` set are
//! written in one transaction. Posts are listed per owner through the
//! `posts_by_owner` index (`post_owner`, `publish_at`): never a Scan.

use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata,
    types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update},
};
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, get_n, get_s, get_time, key, n, on_condition, opt_s, opt_time, s, unavailable},
    uploads::{MEDIA, media_from_item, upload_from_item, upload_key, upload_to_item},
};
use crate::domain::{
    ids::{PostId, UploadId, UserId},
    ports::StoreError,
    post::{Post, PostTarget},
    upload::{Media, PostSettings, PublishMode, Upload, UploadStatus},
};

pub(super) fn post_key(id: &PostId) -> Item {
    key(format!("POST#{id}"), "POST")
}

/// Where a listing of posts resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostCursor {
    owner: String,
    publish_at: i64,
    post_id: PostId,
}

impl PostCursor {
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let json =
            serde_json::json!([self.owner, self.publish_at, self.post_id.as_ref()]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A cursor only resumes the listing it came from: `owner`'s.
    pub fn decode(raw: &str, owner: &UserId) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()?;
        let (o, publish_at, id): (String, i64, String) = serde_json::from_slice(&bytes).ok()?;
        (o == owner.as_ref()).then_some(())?;
        Some(Self {
            owner: o,
            publish_at,
            post_id: PostId::parse(&id)?,
        })
    }

    fn key(&self) -> Item {
        let mut key = post_key(&self.post_id);
        key.insert("post_owner".to_owned(), s(&self.owner));
        key.insert("publish_at".to_owned(), n(self.publish_at));
        key
    }

    fn from_key(key: &Item) -> Option<Self> {
        Some(Self {
            owner: opt_s(key, "post_owner")?.to_owned(),
            publish_at: get_n(key, "publish_at").ok()?,
            post_id: PostId::parse(opt_s(key, "pk")?.strip_prefix("POST#")?)?,
        })
    }
}

/// A page of posts, newest `publish_at` first, and where the next starts.
#[derive(Debug)]
pub struct PostPage {
    pub posts: Vec<Post>,
    pub next: Option<PostCursor>,
}

/// Which of an owner's posts a listing reads.
#[derive(Debug, Clone, Default)]
pub struct PostQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub account_id: Option<String>,
    pub limit: i32,
}

impl Store {
    /// Writes a new post, its targets, and its place in the media's `posts`
    /// set, all or nothing. `NotLeasable` when the media is no longer the
    /// owner's, waiting or ready (or the ids were taken).
    #[tracing::instrument(name = "store.create_post", skip_all, fields(post_id = %post.id))]
    pub async fn create_post(&self, post: &Post, targets: &[Upload]) -> Result<(), StoreError> {
        let mut items = vec![put_new(&self.table, post_to_item(post))?];
        for target in targets {
            items.push(put_new(&self.table, upload_to_item(target))?);
        }
        let media = Update::builder()
            .table_name(&self.table)
            .set_key(Some(upload_key(&post.media_id)))
            .update_expression("ADD posts :post SET updated_at = :now")
            .condition_expression(
                "#kind = :media AND #owner = :owner AND #status IN (:awaiting, :ready)",
            )
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":post", AttributeValue::Ss(vec![post.id.to_string()]))
            .expression_attribute_values(":now", n(post.created_at.timestamp()))
            .expression_attribute_values(":media", s(MEDIA))
            .expression_attribute_values(":owner", s(post.owner.as_ref()))
            .expression_attribute_values(":awaiting", s(UploadStatus::AwaitingUpload.as_str()))
            .expression_attribute_values(":ready", s(UploadStatus::Ready.as_str()))
            .build()
            .map_err(unavailable("DynamoDB Update builder"))?;
        items.push(TransactWriteItem::builder().update(media).build());
        self.transact(items, "DynamoDB TransactWriteItems (create post)")
            .await
    }

    /// Undoes [`Store::create_post`] for a post that could not be
    /// scheduled: nothing of it may run.
    #[tracing::instrument(name = "store.delete_post", skip_all, fields(post_id = %post.id))]
    pub async fn delete_post(&self, post: &Post) -> Result<(), StoreError> {
        let mut items = Vec::new();
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(post_key(&post.id)))
            .condition_expression("attribute_not_exists(started_at)")
            .build()
            .map_err(unavailable("DynamoDB Delete builder"))?;
        items.push(TransactWriteItem::builder().delete(delete).build());
        for target in &post.targets {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(upload_key(&target.upload_id)))
                .condition_expression("#status = :scheduled")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":scheduled", s(UploadStatus::Scheduled.as_str()))
                .build()
                .map_err(unavailable("DynamoDB Delete builder"))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let media = Update::builder()
            .table_name(&self.table)
            .set_key(Some(upload_key(&post.media_id)))
            .update_expression("DELETE posts :post")
            .expression_attribute_values(":post", AttributeValue::Ss(vec![post.id.to_string()]))
            .build()
            .map_err(unavailable("DynamoDB Update builder"))?;
        items.push(TransactWriteItem::builder().update(media).build());
        self.transact(items, "DynamoDB TransactWriteItems (delete post)")
            .await
    }

    #[tracing::instrument(name = "store.get_post", skip_all, fields(post_id = %id))]
    pub async fn get_post(&self, id: &PostId) -> Result<Option<Post>, StoreError> {
        self.get_consistent(post_key(id), "DynamoDB GetItem (post)")
            .await?
            .map(|item| post_from_item(&item))
            .transpose()
    }

    /// The uploads `ids` name, in order (`None` for one not found or not
    /// an upload), read consistently.
    #[tracing::instrument(name = "store.get_uploads", skip_all, fields(uploads = ids.len()))]
    pub async fn get_uploads(&self, ids: &[UploadId]) -> Result<Vec<Option<Upload>>, StoreError> {
        let items = self
            .batch_get_consistent(
                ids.iter().map(upload_key).collect(),
                "DynamoDB BatchGetItem (uploads)",
            )
            .await?;
        let found: Vec<Upload> = items
            .iter()
            .filter(|item| opt_s(item, "kind") != Some(MEDIA))
            .map(upload_from_item)
            .collect::<Result<_, _>>()?;
        Ok(ids
            .iter()
            .map(|id| found.iter().find(|u| &u.id == id).cloned())
            .collect())
    }

    /// One page of `owner`'s posts, latest `publish_at` first.
    #[tracing::instrument(name = "store.posts_of", skip_all, fields(owner = %owner))]
    pub async fn posts_of(
        &self,
        owner: &UserId,
        query: &PostQuery,
        start: Option<&PostCursor>,
    ) -> Result<PostPage, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("posts_by_owner")
            .expression_attribute_names("#owner", "post_owner")
            .expression_attribute_values(":owner", s(owner.as_ref()))
            .scan_index_forward(false)
            .limit(query.limit)
            .set_exclusive_start_key(start.map(PostCursor::key));
        if query.from.is_some() || query.to.is_some() {
            request = request.expression_attribute_names("#at", "publish_at");
        }
        request = match (query.from, query.to) {
            (Some(from), Some(to)) => request
                .key_condition_expression("#owner = :owner AND #at BETWEEN :from AND :to")
                .expression_attribute_values(":from", n(from.timestamp()))
                .expression_attribute_values(":to", n(to.timestamp())),
            (Some(from), None) => request
                .key_condition_expression("#owner = :owner AND #at >= :from")
                .expression_attribute_values(":from", n(from.timestamp())),
            (None, Some(to)) => request
                .key_condition_expression("#owner = :owner AND #at <= :to")
                .expression_attribute_values(":to", n(to.timestamp())),
            (None, None) => request.key_condition_expression("#owner = :owner"),
        };
        if let Some(account) = &query.account_id {
            request = request
                .filter_expression("contains(account_ids, :account)")
                .expression_attribute_values(":account", s(account));
        }
        let output = request
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (posts_by_owner)"))?;
        let posts = output
            .items
            .unwrap_or_default()
            .iter()
            .map(post_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PostPage {
            posts,
            next: output
                .last_evaluated_key
                .as_ref()
                .and_then(PostCursor::from_key),
        })
    }

    /// Marks a post started at `now`, if it is due by `due_by` and was not
    /// cancelled, and returns it. `NotLeasable` otherwise (or when it is
    /// gone). Starting twice changes nothing.
    #[tracing::instrument(name = "store.start_post", skip_all, fields(post_id = %id))]
    pub async fn start_post(
        &self,
        id: &PostId,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
    ) -> Result<Post, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(post_key(id)))
            .update_expression("SET started_at = if_not_exists(started_at, :now)")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(cancelled_at) AND publish_at <= :due_by",
            )
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":due_by", n(due_by.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(on_condition(StoreError::NotLeasable, "DynamoDB UpdateItem (start post)"))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("start post returned no item".into()))?;
        post_from_item(&item)
    }

    /// Changes a post that has not started: its time and settings, and its
    /// targets' (each must still be `scheduled`). `NotLeasable` when it has
    /// started or was cancelled.
    #[tracing::instrument(name = "store.reschedule_post", skip_all, fields(post_id = %post.id))]
    pub async fn change_post(
        &self,
        post: &Post,
        targets: &[(UploadId, PostSettings)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let settings = serde_json::to_string(&post.post)
            .map_err(|e| StoreError::Corrupt(format!("post settings: {e}")))?;
        let mut items = Vec::new();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(post_key(&post.id)))
            .update_expression("SET publish_at = :at, post = :post, updated_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(started_at) AND attribute_not_exists(cancelled_at)",
            )
            .expression_attribute_values(":at", n(post.publish_at.timestamp()))
            .expression_attribute_values(":post", s(settings))
            .expression_attribute_values(":now", n(now.timestamp()))
            .build()
            .map_err(unavailable("DynamoDB Update builder"))?;
        items.push(TransactWriteItem::builder().update(update).build());
        for (id, settings) in targets {
            let settings = serde_json::to_string(settings)
                .map_err(|e| StoreError::Corrupt(format!("post settings: {e}")))?;
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(upload_key(id)))
                .update_expression("SET retry_at = :at, post = :post, updated_at = :now")
                .condition_expression("#status = :scheduled")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":scheduled", s(UploadStatus::Scheduled.as_str()))
                .expression_attribute_values(":at", n(post.publish_at.timestamp()))
                .expression_attribute_values(":post", s(settings))
                .expression_attribute_values(":now", n(now.timestamp()))
                .build()
                .map_err(unavailable("DynamoDB Update builder"))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        self.transact(items, "DynamoDB TransactWriteItems (change post)")
            .await
    }

    /// Marks a post cancelled: it will not start. Cancelling twice changes
    /// nothing.
    #[tracing::instrument(name = "store.cancel_post", skip_all, fields(post_id = %id))]
    pub async fn cancel_post(&self, id: &PostId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(post_key(id)))
            .update_expression(
                "SET cancelled_at = if_not_exists(cancelled_at, :now), updated_at = :now",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotFound,
                "DynamoDB UpdateItem (cancel post)",
            ))?;
        Ok(())
    }

    /// Cancels a target that has not started: `scheduled` or `waiting`,
    /// held by no worker, nothing at TikTok. `NotLeasable` otherwise.
    #[tracing::instrument(name = "store.cancel_target", skip_all, fields(upload_id = %id))]
    pub async fn cancel_target(&self, id: &UploadId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :cancelled, updated_at = :now REMOVE retry_at, #error",
            )
            .condition_expression(
                "#status IN (:scheduled, :waiting) AND attribute_not_exists(lease_owner) \
                 AND attribute_not_exists(publish_id)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":cancelled", s(UploadStatus::Cancelled.as_str()))
            .expression_attribute_values(":scheduled", s(UploadStatus::Scheduled.as_str()))
            .expression_attribute_values(":waiting", s(UploadStatus::Waiting.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (cancel target)",
            ))?;
        Ok(())
    }

    /// Media whose object arrived: `ready`, or `failed` with `error`; only
    /// from `awaiting_upload` (`NotLeasable` otherwise: a duplicate).
    /// Returns the media as it now stands, with every post that uses it.
    #[tracing::instrument(name = "store.media_arrived", skip_all, fields(upload_id = %id))]
    pub async fn media_arrived(
        &self,
        id: &UploadId,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Media, StoreError> {
        let status = if error.is_some() {
            UploadStatus::Failed
        } else {
            UploadStatus::Ready
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .condition_expression("#kind = :media AND #status = :awaiting")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":media", s(MEDIA))
            .expression_attribute_values(":awaiting", s(UploadStatus::AwaitingUpload.as_str()))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(ReturnValue::AllNew);
        request = match error {
            Some(error) => request
                .update_expression("SET #status = :status, #error = :error, updated_at = :now")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", s(error)),
            None => request.update_expression("SET #status = :status, updated_at = :now"),
        };
        let output = request.send().await.map_err(on_condition(
            StoreError::NotLeasable,
            "DynamoDB UpdateItem (media arrived)",
        ))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("media update returned no item".into()))?;
        media_from_item(&item)
    }

    /// Records TikTok's public post id on the upload whose publish it is.
    #[tracing::instrument(name = "store.record_public_post", skip_all, fields(upload_id = %id))]
    pub async fn record_public_post(
        &self,
        id: &UploadId,
        publish_id: &str,
        public_post_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression("SET public_post_id = :post, updated_at = :now")
            .condition_expression("publish_id = :publish_id")
            .expression_attribute_values(":post", s(public_post_id))
            .expression_attribute_values(":publish_id", s(publish_id))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (public post)",
            ))?;
        Ok(())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| {
                if e.code() == Some("TransactionCanceledException") {
                    StoreError::NotLeasable
                } else {
                    unavailable(operation)(e)
                }
            })?;
        Ok(())
    }
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(unavailable("DynamoDB Put builder"))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub fn post_to_item(p: &Post) -> Item {
    let mut item = post_key(&p.id);
    item.insert("post_id".into(), s(p.id.as_ref()));
    item.insert("post_owner".into(), s(p.owner.as_ref()));
    item.insert("media_id".into(), s(p.media_id.as_ref()));
    item.insert("mode".into(), s(p.mode.as_str()));
    if let Ok(post) = serde_json::to_string(&p.post) {
        item.insert("post".into(), s(post));
    }
    if let Ok(targets) = serde_json::to_string(&p.targets) {
        item.insert("targets".into(), s(targets));
    }
    item.insert(
        "account_ids".into(),
        AttributeValue::Ss(p.targets.iter().map(|t| t.account_id.to_string()).collect()),
    );
    item.insert("publish_at".into(), n(p.publish_at.timestamp()));
    if let Some(t) = p.started_at {
        item.insert("started_at".into(), n(t.timestamp()));
    }
    if let Some(t) = p.cancelled_at {
        item.insert("cancelled_at".into(), n(t.timestamp()));
    }
    item.insert("created_at".into(), n(p.created_at.timestamp()));
    item.insert("updated_at".into(), n(p.updated_at.timestamp()));
    item
}

pub fn post_from_item(item: &Item) -> Result<Post, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("post {what}"));
    let post: PostSettings =
        serde_json::from_str(get_s(item, "post")?).map_err(|_| corrupt("post"))?;
    let targets: Vec<PostTarget> =
        serde_json::from_str(get_s(item, "targets")?).map_err(|_| corrupt("targets"))?;
    Ok(Post {
        id: PostId::parse(get_s(item, "post_id")?).ok_or_else(|| corrupt("post_id"))?,
        owner: UserId::parse(get_s(item, "post_owner")?).map_err(|_| corrupt("owner"))?,
        media_id: UploadId::parse(get_s(item, "media_id")?).ok_or_else(|| corrupt("media_id"))?,
        mode: PublishMode::parse(get_s(item, "mode")?).ok_or_else(|| corrupt("mode"))?,
        post,
        publish_at: get_time(item, "publish_at")?,
        targets,
        started_at: opt_time(item, "started_at")?,
        cancelled_at: opt_time(item, "cancelled_at")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ids::AccountId,
        post::TargetOverrides,
        upload::{PrivacyLevel, VideoType},
    };
    use chrono::TimeZone;

    #[test]
    fn posts_and_media_round_trip() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let post = Post {
            id: PostId::generate(),
            owner: UserId::parse("alice").unwrap(),
            media_id: UploadId::generate(),
            mode: PublishMode::Direct,
            post: PostSettings {
                title: Some("hello".into()),
                privacy_level: Some(PrivacyLevel::SelfOnly),
                ..Default::default()
            },
            publish_at: now + chrono::Duration::hours(3),
            targets: vec![PostTarget {
                account_id: AccountId::parse("open-1").unwrap(),
                upload_id: UploadId::generate(),
                post: TargetOverrides {
                    title: Some("mine".into()),
                    privacy_level: None,
                },
            }],
            started_at: Some(now),
            cancelled_at: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(post_from_item(&post_to_item(&post)).unwrap(), post);
        let cursor = PostCursor::from_key(&post_to_item(&post)).unwrap();
        let alice = UserId::parse("alice").unwrap();
        assert_eq!(
            PostCursor::decode(&cursor.encode(), &alice),
            Some(cursor.clone())
        );
        let bob = UserId::parse("bob").unwrap();
        assert_eq!(PostCursor::decode(&cursor.encode(), &bob), None);
        let media = Media {
            posts: vec![post.id.clone()],
            ..Media::new(
                UploadId::generate(),
                alice,
                crate::domain::upload::NewMedia {
                    video_type: VideoType::Mp4,
                    size_bytes: 5000,
                },
                now,
            )
        };
        let item = super::super::uploads::media_to_item(&media);
        assert_eq!(media_from_item(&item).unwrap(), media);
    }
}
