//! The webhook events we act on, parsed from a verified body.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::domain::ids::{AccountId, PublishId};

/// The events we act on; the rest are acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The user (or TikTok, or we) ended the authorization; its tokens are
    /// already revoked.
    AuthorizationRemoved {
        account: AccountId,
        reason: i64,
        /// When TikTok created the event (`create_time`).
        created_at: DateTime<Utc>,
    },
    /// `post.publish.complete`, `post.publish.inbox_delivered` and
    /// `post.publish.publicly_available`: the post is done on TikTok's side.
    Published {
        account: AccountId,
        publish_id: PublishId,
        /// TikTok's id of the public post (`publicly_available` only).
        public_post_id: Option<String>,
    },
    Failed {
        account: AccountId,
        publish_id: PublishId,
        reason: String,
    },
    Other(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the webhook body is not a TikTok event: {0}")]
pub struct MalformedEvent(String);

#[derive(Deserialize)]
struct Envelope {
    client_key: String,
    event: String,
    create_time: i64,
    user_openid: String,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct PostContent {
    publish_id: String,
    #[serde(default)]
    reason: Option<String>,
    /// A string in observed payloads; a number is read too.
    #[serde(default)]
    post_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AuthContent {
    #[serde(default)]
    reason: i64,
}

/// Parses a verified body; `client_key` must be ours.
pub fn parse_event(body: &[u8], client_key: &str) -> Result<Event, MalformedEvent> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| MalformedEvent(e.to_string()))?;
    if envelope.client_key != client_key {
        return Err(MalformedEvent("client_key is not this app's".into()));
    }
    let account = || {
        AccountId::parse(envelope.user_openid.clone())
            .map_err(|e| MalformedEvent(format!("user_openid: {e}")))
    };
    let content = || -> Result<(PublishId, PostContent), MalformedEvent> {
        let content: PostContent = serde_json::from_str(&envelope.content)
            .map_err(|e| MalformedEvent(format!("content: {e}")))?;
        let publish_id = PublishId::parse(&content.publish_id)
            .ok_or_else(|| MalformedEvent("content.publish_id".into()))?;
        Ok((publish_id, content))
    };
    let post = || content().map(|(id, content)| (id, content.reason));
    Ok(match envelope.event.as_str() {
        "authorization.removed" => {
            let content: AuthContent = serde_json::from_str(&envelope.content)
                .map_err(|e| MalformedEvent(format!("content: {e}")))?;
            Event::AuthorizationRemoved {
                account: account()?,
                reason: content.reason,
                created_at: Utc
                    .timestamp_opt(envelope.create_time, 0)
                    .single()
                    .ok_or_else(|| MalformedEvent("create_time".into()))?,
            }
        }
        "post.publish.complete" | "post.publish.inbox_delivered" => Event::Published {
            account: account()?,
            publish_id: post()?.0,
            public_post_id: None,
        },
        "post.publish.publicly_available" => {
            let (publish_id, content) = content()?;
            Event::Published {
                account: account()?,
                publish_id,
                public_post_id: match content.post_id {
                    Some(serde_json::Value::String(id)) if !id.is_empty() => Some(id),
                    Some(serde_json::Value::Number(id)) => Some(id.to_string()),
                    _ => None,
                },
            }
        }
        "post.publish.failed" => {
            let (publish_id, reason) = post()?;
            Event::Failed {
                account: account()?,
                publish_id,
                reason: reason.unwrap_or_else(|| "failed".into()),
            }
        }
        other => Event::Other(other.to_owned()),
    })
}

/// Whether an event created at `created_at` is about the grant given at
/// `granted_at`, or about an older one. TikTok's `create_time` counts whole
/// seconds: an event from the grant's own second concerns it.
pub fn concerns_grant(created_at: DateTime<Utc>, granted_at: DateTime<Utc>) -> bool {
    created_at.timestamp() >= granted_at.timestamp()
}

/// What `authorization.removed`'s reason codes mean.
pub fn removal_reason(reason: i64) -> &'static str {
    match reason {
        1 => "the user disconnected the app in TikTok",
        2 => "the TikTok account was deleted",
        3 => "the user's age changed",
        4 => "the TikTok account was banned",
        5 => "the app revoked the authorization",
        _ => "unknown reason",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse() {
        let body = |event: &str, content: &str| {
            serde_json::json!({
                "client_key": "ck", "event": event, "create_time": 1,
                "user_openid": "open-1", "content": content
            })
            .to_string()
        };
        let open = AccountId::parse("open-1").unwrap();
        assert_eq!(
            parse_event(
                body("authorization.removed", r#"{"reason": 1}"#).as_bytes(),
                "ck"
            ),
            Ok(Event::AuthorizationRemoved {
                account: open.clone(),
                reason: 1,
                created_at: Utc.timestamp_opt(1, 0).unwrap(),
            })
        );
        let pid = PublishId::parse("v_pub_file~v2-1.1").unwrap();
        assert_eq!(
            parse_event(
                body(
                    "post.publish.complete",
                    r#"{"publish_id":"v_pub_file~v2-1.1","publish_type":"DIRECT_PUBLISH"}"#
                )
                .as_bytes(),
                "ck"
            ),
            Ok(Event::Published {
                account: open.clone(),
                publish_id: pid.clone(),
                public_post_id: None,
            })
        );
        assert_eq!(
            parse_event(
                body(
                    "post.publish.publicly_available",
                    r#"{"publish_id":"v_pub_file~v2-1.1","post_id":"7291","publish_type":"DIRECT_PUBLISH"}"#
                )
                .as_bytes(),
                "ck"
            ),
            Ok(Event::Published {
                account: open.clone(),
                publish_id: pid.clone(),
                public_post_id: Some("7291".into()),
            })
        );
        assert_eq!(
            parse_event(
                body(
                    "post.publish.failed",
                    r#"{"publish_id":"v_pub_file~v2-1.1","reason":"spam_risk"}"#
                )
                .as_bytes(),
                "ck"
            ),
            Ok(Event::Failed {
                account: open,
                publish_id: pid,
                reason: "spam_risk".into()
            })
        );
        assert_eq!(
            parse_event(body("video.publish.completed", "{}").as_bytes(), "ck"),
            Ok(Event::Other("video.publish.completed".into()))
        );
        assert!(parse_event(body("post.publish.complete", "{}").as_bytes(), "ck").is_err());
        assert!(parse_event(body("authorization.removed", "{}").as_bytes(), "other").is_err());
        assert!(parse_event(b"not json", "ck").is_err());
        let undated = serde_json::json!({
            "client_key": "ck", "event": "authorization.removed",
            "user_openid": "open-1", "content": "{}"
        });
        assert!(parse_event(undated.to_string().as_bytes(), "ck").is_err());
    }

    #[test]
    fn only_events_after_the_grant_concern_it() {
        let granted = Utc.timestamp_millis_opt(1_800_000_000_700).unwrap();
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).unwrap();
        // (created, concerns the grant)
        for (created, concerns) in [
            (at(1_799_999_000_000), false),
            (at(1_799_999_999_999), false),
            (at(1_800_000_000_000), true),
            (at(1_800_000_000_900), true),
            (at(1_800_000_001_000), true),
            (at(1_800_086_400_000), true),
        ] {
            assert_eq!(concerns_grant(created, granted), concerns, "{created}");
        }
    }
}
