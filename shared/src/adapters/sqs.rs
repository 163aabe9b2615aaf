//! The SQS adapter: sends a message with a delay, so work that only has to
//! wait goes back on its queue instead of failing.

use std::{fmt, time::Duration};

use serde::Serialize;
use url::Url;

use crate::env::{ConfigError, Env};

#[derive(thiserror::Error)]
pub enum QueueError {
    #[error("SQS is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// SQS's longest delay for one message.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// A queue's URL, as the template passes it.
#[derive(Clone, Debug)]
pub struct QueueUrl(Url);

impl QueueUrl {
    /// The URL in the variable `name` (required).
    pub fn from_env(env: &Env, name: &'static str) -> Result<Self, ConfigError> {
        env.url(name, None).map(Self)
    }
}

#[derive(Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: QueueUrl,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: QueueUrl) -> Self {
        Self { client, url }
    }

    /// Sends `message` as JSON, visible after `delay` (at most 15 minutes,
    /// SQS's limit).
    #[tracing::instrument(name = "queue.send", skip_all, fields(delay_s = delay.as_secs()))]
    pub async fn send(&self, message: &impl Serialize, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(message)
            .map_err(|e| QueueError::Unavailable(anyhow::Error::new(e)))?;
        self.client
            .send_message()
            .queue_url(self.url.0.as_str())
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
