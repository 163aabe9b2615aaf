//! What arrives on the publish queue: S3 notifications, and the follow-ups
//! upload-publish sends itself (a deferred publish, a status check) with a
//! delay, instead of failing a message that only has to wait.

use serde::{Deserialize, Serialize};

use crate::domain::ids::{PostId, UploadId};

/// What one SQS message asks upload-publish to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishMessage {
    /// Publish these uploads: an S3 ObjectCreated notification, or our own
    /// deferred retry.
    Publish {
        uploads: Vec<UploadId>,
        attempt: u32,
    },
    /// Ask TikTok how a publish is going (no webhook came in time).
    CheckStatus { upload: UploadId, attempt: u32 },
    /// A post's time has come (its schedule fired, or it was made for
    /// now): send each of its targets on.
    Post { post: PostId },
    /// Media for posts was stored: verify it, and send on the posts that
    /// wait for it.
    MediaStored { media: Vec<UploadId> },
    /// Nothing to do: S3's test event, objects outside `uploads/`, or
    /// another bucket's objects.
    Ignore,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the message is neither an S3 notification nor a publish follow-up")]
pub struct UnknownMessage;

/// Our own follow-up messages, as they are sent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum FollowUp {
    Publish {
        upload_id: String,
        attempt: u32,
    },
    CheckStatus {
        upload_id: String,
        attempt: u32,
    },
    /// What a post's schedule sends (`{"step": "post", "post_id"}`).
    Post {
        post_id: String,
    },
}

impl FollowUp {
    /// Publish `upload` again: attempt number `attempt`.
    pub fn publish(upload: &UploadId, attempt: u32) -> Self {
        Self::Publish {
            upload_id: upload.to_string(),
            attempt,
        }
    }

    /// Start `post`: its time has come.
    pub fn post(post: &PostId) -> Self {
        Self::Post {
            post_id: post.to_string(),
        }
    }

    /// Ask TikTok how `upload`'s publish is going: check number `attempt`.
    pub fn check_status(upload: &UploadId, attempt: u32) -> Self {
        Self::CheckStatus {
            upload_id: upload.to_string(),
            attempt,
        }
    }
}

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
    #[serde(rename = "Event", default)]
    event: Option<String>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    #[serde(default)]
    bucket: Option<S3Bucket>,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
}

/// S3 notifications carry keys URL-encoded as in a form (`/` as `%2F`, a
/// space as `+`).
fn object_key(encoded: &str) -> String {
    url::form_urlencoded::parse(encoded.as_bytes())
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl PublishMessage {
    /// Reads an SQS message body; S3 notifications count only for objects
    /// in `bucket`, the upload bucket.
    pub fn parse(body: &str, bucket: &str) -> Result<Self, UnknownMessage> {
        if let Ok(follow_up) = serde_json::from_str::<FollowUp>(body) {
            return match follow_up {
                FollowUp::Publish { upload_id, attempt } => Ok(Self::Publish {
                    uploads: vec![UploadId::parse(&upload_id).ok_or(UnknownMessage)?],
                    attempt,
                }),
                FollowUp::CheckStatus { upload_id, attempt } => Ok(Self::CheckStatus {
                    upload: UploadId::parse(&upload_id).ok_or(UnknownMessage)?,
                    attempt,
                }),
                FollowUp::Post { post_id } => Ok(Self::Post {
                    post: PostId::parse(&post_id).ok_or(UnknownMessage)?,
                }),
            };
        }
        let notification: S3Notification =
            serde_json::from_str(body).map_err(|_| UnknownMessage)?;
        if notification.event.as_deref() == Some("s3:TestEvent") {
            return Ok(Self::Ignore);
        }
        let keys: Vec<String> = notification
            .records
            .iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated:"))
            .filter(|r| r.s3.bucket.as_ref().is_some_and(|b| b.name == bucket))
            .map(|r| object_key(&r.s3.object.key))
            .collect();
        let uploads: Vec<UploadId> = keys
            .iter()
            .filter_map(|k| UploadId::from_object_key(k))
            .collect();
        let media: Vec<UploadId> = keys
            .iter()
            .filter_map(|k| UploadId::from_media_key(k))
            .collect();
        // S3 sends one record per notification; uploads go first if not.
        match (uploads.is_empty(), media.is_empty()) {
            (false, _) => Ok(Self::Publish {
                uploads,
                attempt: 0,
            }),
            (true, false) => Ok(Self::MediaStored { media }),
            (true, true) => Ok(Self::Ignore),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_s3_notifications() {
        let id = UploadId::generate();
        let body = serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": id.object_key().replace('/', "%2F"), "size": 5}}
        }]})
        .to_string();
        assert_eq!(
            PublishMessage::parse(&body, "b"),
            Ok(PublishMessage::Publish {
                uploads: vec![id],
                attempt: 0
            })
        );
        // The same key in another bucket is none of ours.
        assert_eq!(
            PublishMessage::parse(&body, "uploads-bucket"),
            Ok(PublishMessage::Ignore)
        );
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(
            PublishMessage::parse(test_event, "b"),
            Ok(PublishMessage::Ignore)
        );
        let other = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"elsewhere/x"}}}]}"#;
        assert_eq!(
            PublishMessage::parse(other, "b"),
            Ok(PublishMessage::Ignore)
        );
        let media = UploadId::generate();
        let stored = serde_json::json!({"Records": [{
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": media.media_key().replace('/', "%2F")}}
        }]})
        .to_string();
        assert_eq!(
            PublishMessage::parse(&stored, "b"),
            Ok(PublishMessage::MediaStored { media: vec![media] })
        );
        let nameless = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"uploads/x"}}}]}"#;
        assert_eq!(
            PublishMessage::parse(nameless, "b"),
            Ok(PublishMessage::Ignore)
        );
        assert_eq!(PublishMessage::parse("not json", "b"), Err(UnknownMessage));
    }

    #[test]
    fn follow_ups_round_trip() {
        let upload = UploadId::generate();
        for (follow_up, message) in [
            (
                FollowUp::publish(&upload, 3),
                PublishMessage::Publish {
                    uploads: vec![upload.clone()],
                    attempt: 3,
                },
            ),
            (
                FollowUp::check_status(&upload, 1),
                PublishMessage::CheckStatus {
                    upload: upload.clone(),
                    attempt: 1,
                },
            ),
        ] {
            let body = serde_json::to_string(&follow_up).unwrap();
            assert_eq!(PublishMessage::parse(&body, "b"), Ok(message));
        }
        let post = PostId::generate();
        let body = format!(r#"{{"step":"post","post_id":"{post}"}}"#);
        assert_eq!(
            serde_json::to_string(&FollowUp::post(&post)).unwrap(),
            body,
            "the scheduler's message body, as API.md gives it"
        );
        assert_eq!(
            PublishMessage::parse(&body, "b"),
            Ok(PublishMessage::Post { post })
        );
        assert_eq!(
            PublishMessage::parse(r#"{"step":"post","post_id":"nope"}"#, "b"),
            Err(UnknownMessage)
        );
    }
}
