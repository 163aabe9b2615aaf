//! The publish queue (SQS): S3 notifications arrive on it, and upload-publish
//! puts its own follow-ups there (a deferred publish, a status check) with a
//! delay, instead of failing a message that only has to wait.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::upload::UploadId;

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
    /// Nothing to do: S3's test event, or objects outside `uploads/`.
    Ignore,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the message is neither an S3 notification nor a publish follow-up")]
pub struct UnknownMessage;

/// Our own follow-up messages.
#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
enum FollowUp {
    Publish { upload_id: String, attempt: u32 },
    CheckStatus { upload_id: String, attempt: u32 },
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
    object: S3Object,
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
    /// Reads an SQS message body.
    pub fn parse(body: &str) -> Result<Self, UnknownMessage> {
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
            };
        }
        let notification: S3Notification =
            serde_json::from_str(body).map_err(|_| UnknownMessage)?;
        if notification.event.as_deref() == Some("s3:TestEvent") {
            return Ok(Self::Ignore);
        }
        let uploads: Vec<UploadId> = notification
            .records
            .iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated:"))
            .filter_map(|r| UploadId::from_object_key(&object_key(&r.s3.object.key)))
            .collect();
        if uploads.is_empty() {
            return Ok(Self::Ignore);
        }
        Ok(Self::Publish {
            uploads,
            attempt: 0,
        })
    }

    fn follow_up(&self) -> Option<FollowUp> {
        match self {
            Self::Publish { uploads, attempt } if uploads.len() == 1 => Some(FollowUp::Publish {
                upload_id: uploads[0].to_string(),
                attempt: *attempt,
            }),
            Self::CheckStatus { upload, attempt } => Some(FollowUp::CheckStatus {
                upload_id: upload.to_string(),
                attempt: *attempt,
            }),
            _ => None,
        }
    }
}

#[derive(thiserror::Error)]
pub enum QueueError {
    #[error("SQS is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

/// SQS's longest delay for one message.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Clone)]
pub struct PublishQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl PublishQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Sends a follow-up that becomes visible after `delay` (at most 15
    /// minutes, SQS's limit).
    #[tracing::instrument(name = "queue.send", skip_all, fields(delay_s = delay.as_secs()))]
    pub async fn send(&self, message: &PublishMessage, delay: Duration) -> Result<(), QueueError> {
        let follow_up = message
            .follow_up()
            .ok_or_else(|| QueueError::Unavailable(anyhow::anyhow!("not a follow-up message")))?;
        let body = serde_json::to_string(&follow_up)
            .map_err(|e| QueueError::Unavailable(anyhow::Error::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay.min(MAX_DELAY).as_secs() as i32)
            .send()
            .await
            .map_err(|e| {
                QueueError::Unavailable(anyhow::Error::new(e).context("SQS SendMessage"))
            })?;
        Ok(())
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
            PublishMessage::parse(&body),
            Ok(PublishMessage::Publish {
                uploads: vec![id],
                attempt: 0
            })
        );
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(
            PublishMessage::parse(test_event),
            Ok(PublishMessage::Ignore)
        );
        let other = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"elsewhere/x"}}}]}"#;
        assert_eq!(PublishMessage::parse(other), Ok(PublishMessage::Ignore));
        assert_eq!(PublishMessage::parse("not json"), Err(UnknownMessage));
    }

    #[test]
    fn follow_ups_round_trip() {
        let upload = UploadId::generate();
        for message in [
            PublishMessage::Publish {
                uploads: vec![upload.clone()],
                attempt: 3,
            },
            PublishMessage::CheckStatus {
                upload: upload.clone(),
                attempt: 1,
            },
        ] {
            let body = serde_json::to_string(&message.follow_up().unwrap()).unwrap();
            assert_eq!(PublishMessage::parse(&body), Ok(message));
        }
    }
}
