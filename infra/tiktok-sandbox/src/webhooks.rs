//! Signed webhooks, delivered at least once.
//!
//! TikTok POSTs a JSON envelope `{client_key, event, create_time,
//! user_openid, content}` (`content` is a serialized JSON string) with
//! `TikTok-Signature: t=<unix>,s=<hex HMAC-SHA256(client_secret, "<t>.<body>")>`
//! and retries anything but a 2xx with exponential backoff.

use std::{sync::Arc, time::Duration};

use axum::http::header;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::{server::Shared, state::SandboxConfig};

/// Attempts per webhook (the first one included).
const ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The `TikTok-Signature` header value for `body` sent at `timestamp`:
/// `t=<timestamp>,s=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign_webhook(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},s={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One delivery attempt of one webhook, as the sandbox recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookDelivery {
    /// The event name, e.g. `post.publish.complete`.
    pub event: String,
    /// The publish the event is about, if any.
    pub publish_id: Option<String>,
    /// The user the event is about.
    pub user_openid: String,
    /// 1 for the first attempt, counting up through the retries.
    pub attempt: u32,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
    /// Whether this came from `redeliver_last_webhook` (a deliberate
    /// duplicate) rather than the first sending.
    pub redelivery: bool,
    /// The exact request body sent.
    pub body: String,
    /// The exact `TikTok-Signature` header sent.
    pub signature: String,
}

impl WebhookDelivery {
    /// Whether the receiver answered with a 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A signed webhook ready to send (and to send again, byte for byte).
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    event: String,
    publish_id: Option<String>,
    user_openid: String,
    body: String,
    signature: String,
}

/// Where webhooks go, whether they are sent, and what happened to them.
pub(crate) struct WebhookState {
    pub url: Option<Url>,
    pub enabled: bool,
    pub deliveries: Vec<WebhookDelivery>,
    /// The last webhook a receiver acknowledged with a 2xx.
    pub last_delivered: Option<Outgoing>,
}

impl Default for WebhookState {
    fn default() -> Self {
        Self {
            url: None,
            enabled: true,
            deliveries: Vec::new(),
            last_delivered: None,
        }
    }
}

/// An event to announce.
pub(crate) struct Event {
    pub name: &'static str,
    pub open_id: String,
    pub publish_id: Option<String>,
    pub content: Value,
}

impl Event {
    /// A `post.publish.*` event about `publish_id`.
    pub fn publish(name: &'static str, open_id: &str, publish_id: &str, content: Value) -> Self {
        Self {
            name,
            open_id: open_id.to_owned(),
            publish_id: Some(publish_id.to_owned()),
            content,
        }
    }
}

fn build(config: &SandboxConfig, event: Event) -> Outgoing {
    let t = chrono::Utc::now().timestamp();
    let body = json!({
        "client_key": config.client_key,
        "event": event.name,
        "create_time": t,
        "user_openid": event.open_id,
        "content": event.content.to_string(),
    })
    .to_string();
    let signature = sign_webhook(&config.client_secret, t, body.as_bytes());
    Outgoing {
        event: event.name.to_owned(),
        publish_id: event.publish_id,
        user_openid: event.open_id,
        body,
        signature,
    }
}

/// Signs `events` and delivers them in order in the background, unless
/// webhooks are off or no URL is set.
pub(crate) fn send(shared: &Arc<Shared>, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let url = {
        let state = shared.state();
        if !state.webhooks.enabled {
            return;
        }
        let Some(url) = state.webhooks.url.clone() else {
            return;
        };
        url
    };
    let outgoing: Vec<Outgoing> = events
        .into_iter()
        .map(|e| build(&shared.config, e))
        .collect();
    let task = shared.clone();
    shared.runtime.spawn(async move {
        for o in &outgoing {
            deliver(&task, &url, o, false).await;
        }
    });
}

/// Sends the last acknowledged webhook again, same body and signature, to
/// the current webhook URL. False when there is none or no URL is set.
pub(crate) fn redeliver_last(shared: &Arc<Shared>) -> bool {
    let (url, outgoing) = {
        let state = shared.state();
        (
            state.webhooks.url.clone(),
            state.webhooks.last_delivered.clone(),
        )
    };
    let (Some(url), Some(outgoing)) = (url, outgoing) else {
        return false;
    };
    let task = shared.clone();
    shared.runtime.spawn(async move {
        deliver(&task, &url, &outgoing, true).await;
    });
    true
}

/// Revokes all of `open_id`'s grants and announces `authorization.removed`
/// with `reason` (5: the developer revoked it).
pub(crate) fn authorization_removed(shared: &Arc<Shared>, open_id: &str, reason: i64) {
    shared.state().revoke_user(open_id);
    send(
        shared,
        vec![Event {
            name: "authorization.removed",
            open_id: open_id.to_owned(),
            publish_id: None,
            content: json!({ "reason": reason }),
        }],
    );
}

/// POSTs `o` until a 2xx, at most [`ATTEMPTS`] times, recording each try.
async fn deliver(shared: &Shared, url: &Url, o: &Outgoing, redelivery: bool) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = shared
            .http
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("TikTok-Signature", &o.signature)
            .body(o.body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let record = WebhookDelivery {
            event: o.event.clone(),
            publish_id: o.publish_id.clone(),
            user_openid: o.user_openid.clone(),
            attempt,
            status,
            error,
            redelivery,
            body: o.body.clone(),
            signature: o.signature.clone(),
        };
        let ok = record.succeeded();
        {
            let mut state = shared.state();
            state.webhooks.deliveries.push(record);
            if ok {
                state.webhooks.last_delivered = Some(o.clone());
            }
        }
        if ok {
            return true;
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    tracing::warn!(event = %o.event, "webhook not acknowledged after {ATTEMPTS} attempts");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // Python: hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign_webhook("key", 1, b"{}"),
            "t=1,s=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(
            sign_webhook("key", 1, b"{}"),
            sign_webhook("other", 1, b"{}")
        );
    }
}
