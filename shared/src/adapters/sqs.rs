//! The SQS adapter: sends a message with a delay, so work that only has to
//! wait goes back on its queue instead of failing; and sends the refresh
//! queue its slices, ten to a batch.

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;
use url::Url;

pub use crate::domain::ports::QueueError;
use crate::{
    domain::{ports::RefreshQueue, schedule::Slice},
    env::{ConfigError, Env},
};

/// SQS's most messages in one SendMessageBatch.
const BATCH: usize = 10;

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
    client: crate::adapters::aws::LazyClient<aws_sdk_sqs::Client>,
    url: QueueUrl,
}

impl Queue {
    pub fn new(
        client: impl Into<crate::adapters::aws::LazyClient<aws_sdk_sqs::Client>>,
        url: QueueUrl,
    ) -> Self {
        Self {
            client: client.into(),
            url,
        }
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

impl Queue {
    /// Sends every message, in batches of ten, visible after `delay`; a
    /// batch entry SQS refuses fails the whole send (the messages already
    /// sent must be harmless to send again).
    #[tracing::instrument(name = "queue.send_all", skip_all, fields(messages = messages.len()))]
    pub async fn send_all(
        &self,
        messages: &[impl Serialize],
        delay: Duration,
    ) -> Result<(), QueueError> {
        let delay = delay.min(MAX_DELAY).as_secs() as i32;
        for batch in messages.chunks(BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    let body = serde_json::to_string(message)
                        .map_err(|e| QueueError::Unavailable(anyhow::Error::new(e)))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay)
                        .build()
                        .map_err(|e| QueueError::Unavailable(anyhow::Error::new(e)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(self.url.0.as_str())
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    QueueError::Unavailable(anyhow::Error::new(e).context("SQS SendMessageBatch"))
                })?;
            if let Some(failed) = output.failed.first() {
                return Err(QueueError::Unavailable(anyhow::anyhow!(
                    "SQS SendMessageBatch refused {} of {} messages: {}",
                    output.failed.len(),
                    batch.len(),
                    failed.code
                )));
            }
        }
        Ok(())
    }
}

impl RefreshQueue for Queue {
    /// Every slice, in batches of ten; a batch entry SQS refuses fails the
    /// whole send (the slices already sent are harmless to send again).
    #[tracing::instrument(name = "queue.send_slices", skip_all, fields(slices = slices.len()))]
    async fn send_slices(&self, slices: &[Slice], delay: Duration) -> Result<(), QueueError> {
        self.send_all(slices, delay).await
    }
}
