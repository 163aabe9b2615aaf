//! Daily snapshots and what the analytics API reads of them.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | an account's day | `STATS#{account_id}` | `DAY#{yyyy-mm-dd}` |
//! | a video's day | `VSTATS#{account_id}#{video_id}` | `DAY#{yyyy-mm-dd}` |
//! | a video, latest counts | `VIDEOS#{account_id}` | `VIDEO#{create_time:013}#{video_id}` |
//! | a video we published | `VIDEOS#{account_id}` | `LINK#{video_id}` |
//!
//! A range of days for one account or video is one Query. Every snapshot
//! item carries a `ttl` (the retention). An account's day is written last
//! and only if absent: it marks the day done, so a retried run neither
//! asks TikTok again nor writes the day twice.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    Store,
    item::{Item, get_n, get_s, key, n, on_condition, opt_s, s, unavailable},
};
use crate::domain::{
    analytics::{AccountCounts, DateRange, ProfilePoint, Video, VideoPoint},
    ids::{AccountId, PostId, UploadId},
    ports::StoreError,
    upload::Upload,
};

/// DynamoDB's BatchWriteItem limit.
const BATCH_WRITE: usize = 25;

fn day_key(date: NaiveDate) -> String {
    format!("DAY#{}", date.format("%Y-%m-%d"))
}

fn stats_pk(account: &AccountId) -> String {
    format!("STATS#{account}")
}

fn video_stats_pk(account: &AccountId, video: &str) -> String {
    format!("VSTATS#{account}#{video}")
}

fn videos_pk(account: &AccountId) -> String {
    format!("VIDEOS#{account}")
}

fn video_sk(video: &Video) -> String {
    format!("VIDEO#{:013}#{}", video.create_time.max(0) * 1000, video.id)
}

/// One of an account's videos as the analytics API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVideo {
    pub video: Video,
    /// The last day its counts were taken.
    pub as_of: NaiveDate,
}

/// A page of an account's videos, newest first.
#[derive(Debug)]
pub struct StoredVideoPage {
    pub videos: Vec<StoredVideo>,
    /// The `sk` the next page starts after.
    pub next: Option<String>,
}

/// An account's day: its counts, and each snapshotted video's views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDay {
    pub point: ProfilePoint,
    pub video_views: HashMap<String, i64>,
}

/// The upload and post a video of ours came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoLink {
    pub upload_id: UploadId,
    pub post_id: Option<PostId>,
}

impl Store {
    /// A page of the connected accounts in analytics shard `shard`, in
    /// account order, after `after`, and whether more may follow.
    #[tracing::instrument(name = "store.accounts_in_shard", skip_all, fields(shard))]
    pub async fn accounts_in_shard(
        &self,
        shard: u32,
        limit: i32,
        after: Option<&AccountId>,
    ) -> Result<(Vec<AccountId>, bool), StoreError> {
        let start = after.map(|a| {
            let mut key = key(format!("ACCOUNT#{a}"), "ACCOUNT");
            key.insert("analytics_shard".into(), s(shard.to_string()));
            key.insert("account_id".into(), s(a.as_ref()));
            key
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("analytics")
            .key_condition_expression("analytics_shard = :shard")
            .expression_attribute_values(":shard", s(shard.to_string()))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (analytics)"))?;
        let accounts = output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                AccountId::parse(get_s(item, "account_id")?)
                    .map_err(|_| StoreError::Corrupt("analytics account_id".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((accounts, output.last_evaluated_key.is_some()))
    }

    /// Whether `account`'s snapshot of `date` is done.
    #[tracing::instrument(name = "store.snapshot_done", skip_all, fields(account_id = %account))]
    pub async fn snapshot_done(
        &self,
        account: &AccountId,
        date: NaiveDate,
    ) -> Result<bool, StoreError> {
        Ok(self
            .get_consistent(
                key(stats_pk(account), &day_key(date)),
                "DynamoDB GetItem (day)",
            )
            .await?
            .is_some())
    }

    /// Writes each video's counts of `date` and its latest counts; a retry
    /// writes the same items again. `expires` is the retention's end.
    #[tracing::instrument(name = "store.put_video_snapshots", skip_all, fields(account_id = %account, videos = videos.len()))]
    pub async fn put_video_snapshots(
        &self,
        account: &AccountId,
        date: NaiveDate,
        videos: &[Video],
        expires: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(videos.len() * 2);
        for video in videos {
            let mut day = key(video_stats_pk(account, &video.id), &day_key(date));
            day.insert("views".into(), n(video.views));
            day.insert("likes".into(), n(video.likes));
            day.insert("comments".into(), n(video.comments));
            day.insert("shares".into(), n(video.shares));
            day.insert("ttl".into(), n(expires.timestamp()));
            items.push(day);
            let mut latest = key(videos_pk(account), &video_sk(video));
            latest.insert("video_id".into(), s(&video.id));
            latest.insert("create_time".into(), n(video.create_time));
            if let Some(title) = &video.title {
                latest.insert("title".into(), s(title));
            }
            if let Some(url) = &video.share_url {
                latest.insert("share_url".into(), s(url));
            }
            if let Some(duration) = video.duration {
                latest.insert("duration".into(), n(duration));
            }
            latest.insert("views".into(), n(video.views));
            latest.insert("likes".into(), n(video.likes));
            latest.insert("comments".into(), n(video.comments));
            latest.insert("shares".into(), n(video.shares));
            latest.insert("as_of".into(), s(date.format("%Y-%m-%d").to_string()));
            latest.insert("ttl".into(), n(expires.timestamp()));
            items.push(latest);
        }
        self.batch_put(items).await
    }

    /// Writes `account`'s counts of `date` (with each video's views that
    /// day, for the top video of a range), unless that day is written
    /// already. Returns whether it wrote.
    #[tracing::instrument(name = "store.put_profile_snapshot", skip_all, fields(account_id = %account))]
    pub async fn put_profile_snapshot(
        &self,
        account: &AccountId,
        date: NaiveDate,
        stats: &AccountCounts,
        videos: &[Video],
        expires: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = key(stats_pk(account), &day_key(date));
        item.insert("followers".into(), n(stats.followers));
        item.insert("following".into(), n(stats.following));
        item.insert("likes".into(), n(stats.likes));
        item.insert("videos".into(), n(stats.videos));
        let views: HashMap<String, AttributeValue> =
            videos.iter().map(|v| (v.id.clone(), n(v.views))).collect();
        item.insert("video_views".into(), AttributeValue::M(views));
        item.insert("ttl".into(), n(expires.timestamp()));
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(on_condition(
                StoreError::AlreadyExists,
                "DynamoDB PutItem (day)",
            )) {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `account`'s days within `range`, oldest first, each with its videos'
    /// views that day.
    #[tracing::instrument(name = "store.profile_points", skip_all, fields(account_id = %account))]
    pub async fn profile_points(
        &self,
        account: &AccountId,
        range: &DateRange,
    ) -> Result<Vec<StoredDay>, StoreError> {
        let items = self.days(stats_pk(account), range).await?;
        items
            .iter()
            .map(|item| {
                let views = match item.get("video_views") {
                    Some(AttributeValue::M(map)) => map
                        .iter()
                        .filter_map(|(k, v)| match v {
                            AttributeValue::N(n) => n.parse().ok().map(|n| (k.clone(), n)),
                            _ => None,
                        })
                        .collect(),
                    _ => HashMap::new(),
                };
                Ok(StoredDay {
                    point: ProfilePoint {
                        date: date_of(item)?,
                        followers: get_n(item, "followers")?,
                        following: get_n(item, "following")?,
                        likes: get_n(item, "likes")?,
                        videos: get_n(item, "videos")?,
                    },
                    video_views: views,
                })
            })
            .collect()
    }

    /// One video's days within `range`, oldest first.
    #[tracing::instrument(name = "store.video_points", skip_all, fields(account_id = %account))]
    pub async fn video_points(
        &self,
        account: &AccountId,
        video: &str,
        range: &DateRange,
    ) -> Result<Vec<VideoPoint>, StoreError> {
        let items = self.days(video_stats_pk(account, video), range).await?;
        items
            .iter()
            .map(|item| {
                Ok(VideoPoint {
                    date: date_of(item)?,
                    views: get_n(item, "views")?,
                    likes: get_n(item, "likes")?,
                    comments: get_n(item, "comments")?,
                    shares: get_n(item, "shares")?,
                })
            })
            .collect()
    }

    /// A page of `account`'s videos with their latest counts, newest first,
    /// after `start` (a page's `next`).
    #[tracing::instrument(name = "store.videos_of", skip_all, fields(account_id = %account))]
    pub async fn videos_of(
        &self,
        account: &AccountId,
        limit: i32,
        start: Option<&str>,
    ) -> Result<StoredVideoPage, StoreError> {
        let pk = videos_pk(account);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :video)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":video", s("VIDEO#"))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start.map(|sk| key(pk.clone(), sk)))
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (videos)"))?;
        let videos = output
            .items
            .unwrap_or_default()
            .iter()
            .map(stored_video)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoredVideoPage {
            videos,
            next: output
                .last_evaluated_key
                .as_ref()
                .and_then(|k| opt_s(k, "sk"))
                .map(str::to_owned),
        })
    }

    /// One of `account`'s videos with its latest counts, if it has that
    /// video (one Query over its videos).
    #[tracing::instrument(name = "store.find_video", skip_all, fields(account_id = %account))]
    pub async fn find_video(
        &self,
        account: &AccountId,
        video: &str,
    ) -> Result<Option<StoredVideo>, StoreError> {
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :video)")
                .filter_expression("video_id = :id")
                .expression_attribute_values(":pk", s(videos_pk(account)))
                .expression_attribute_values(":video", s("VIDEO#"))
                .expression_attribute_values(":id", s(video))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("DynamoDB Query (video)"))?;
            if let Some(item) = output.items.unwrap_or_default().first() {
                return stored_video(item).map(Some);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(None);
            }
        }
    }

    pub async fn has_video(&self, account: &AccountId, video: &str) -> Result<bool, StoreError> {
        Ok(self.find_video(account, video).await?.is_some())
    }

    pub async fn video_title(
        &self,
        account: &AccountId,
        video: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .find_video(account, video)
            .await?
            .and_then(|v| v.video.title))
    }

    /// TikTok's public post id for `upload`'s publish `publish_id`: on the
    /// upload (shown as a post target's `public_post_id`), and as a link
    /// from the video in `video.list` to the upload and its post. Applies
    /// only while the upload is on that publish; returns whether it did.
    #[tracing::instrument(name = "store.public_post", skip_all, fields(upload_id = %upload.id))]
    pub async fn public_post(
        &self,
        upload: &Upload,
        publish_id: &str,
        public_post_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self
            .record_public_post(&upload.id, publish_id, public_post_id, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotLeasable) => return Ok(false),
            Err(e) => return Err(e),
        }
        let link = VideoLink {
            upload_id: upload.id.clone(),
            post_id: upload.target.as_ref().map(|t| t.post_id.clone()),
        };
        self.link_video(&upload.account_id, public_post_id, &link)
            .await?;
        Ok(true)
    }

    /// Records that `video` on `account` is the public post of an upload
    /// of ours (and its post's, for a post's target).
    #[tracing::instrument(name = "store.link_video", skip_all, fields(account_id = %account))]
    pub async fn link_video(
        &self,
        account: &AccountId,
        video: &str,
        link: &VideoLink,
    ) -> Result<(), StoreError> {
        let mut item = key(videos_pk(account), &format!("LINK#{video}"));
        item.insert("upload_id".into(), s(link.upload_id.as_ref()));
        if let Some(post) = &link.post_id {
            item.insert("post_id".into(), s(post.as_ref()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable("DynamoDB PutItem (video link)"))?;
        Ok(())
    }

    /// The links of `videos` on `account`, where there are any (one
    /// BatchGetItem per 100).
    #[tracing::instrument(name = "store.video_links", skip_all, fields(account_id = %account))]
    pub async fn video_links(
        &self,
        account: &AccountId,
        videos: &[&str],
    ) -> Result<HashMap<String, VideoLink>, StoreError> {
        let keys = videos
            .iter()
            .map(|video| key(videos_pk(account), &format!("LINK#{video}")))
            .collect();
        let mut links = HashMap::new();
        for item in self
            .batch_get_consistent(keys, "DynamoDB BatchGetItem (video links)")
            .await?
        {
            let video = get_s(&item, "sk")?
                .strip_prefix("LINK#")
                .ok_or_else(|| StoreError::Corrupt("video link sk".into()))?
                .to_owned();
            let upload_id = UploadId::parse(get_s(&item, "upload_id")?)
                .ok_or_else(|| StoreError::Corrupt("video link upload_id".into()))?;
            let post_id = opt_s(&item, "post_id").and_then(PostId::parse);
            links.insert(video, VideoLink { upload_id, post_id });
        }
        Ok(links)
    }

    async fn days(&self, pk: String, range: &DateRange) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(day_key(range.from)))
                .expression_attribute_values(":to", s(day_key(range.to)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("DynamoDB Query (days)"))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for batch in items.chunks(BATCH_WRITE) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                        .map_err(unavailable("DynamoDB PutRequest builder"))
                })
                .collect::<Result<_, _>>()?;
            // Unprocessed items come back on throttling: send them again.
            for _ in 0..5 {
                if requests.is_empty() {
                    break;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(unavailable("DynamoDB BatchWriteItem (snapshots)"))?;
                requests = output
                    .unprocessed_items
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "DynamoDB BatchWriteItem left {} items unprocessed",
                    requests.len()
                )));
            }
        }
        Ok(())
    }
}

fn date_of(item: &Item) -> Result<NaiveDate, StoreError> {
    get_s(item, "sk")?
        .strip_prefix("DAY#")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| StoreError::Corrupt("snapshot day".into()))
}

fn stored_video(item: &Item) -> Result<StoredVideo, StoreError> {
    let as_of = NaiveDate::parse_from_str(get_s(item, "as_of")?, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt("video as_of".into()))?;
    Ok(StoredVideo {
        video: Video {
            id: get_s(item, "video_id")?.to_owned(),
            create_time: get_n(item, "create_time")?,
            title: opt_s(item, "title").map(str::to_owned),
            share_url: opt_s(item, "share_url").map(str::to_owned),
            duration: get_n(item, "duration").ok(),
            views: get_n(item, "views")?,
            likes: get_n(item, "likes")?,
            comments: get_n(item, "comments")?,
            shares: get_n(item, "shares")?,
        },
        as_of,
    })
}
