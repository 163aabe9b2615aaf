//! `analytics-snapshot`: the daily snapshot run, fanned out.
//!
//! - Its EventBridge schedule (any event that is not an SQS batch) plans:
//!   one slice per shard of the analytics index onto the analytics queue;
//!   answers `{"action": "plan", "planned"}`.
//! - The analytics queue's slices: each worked until its shard is done, a
//!   rate limit is used up or the deadline is near; the rest goes back to
//!   the queue, delayed until the limit frees. Accounts without the scopes
//!   or needing reconnecting are skipped with the reason.
//!
//! A record whose rest could not be sent, or whose body is not a slice, is
//! reported as a batch item failure: SQS brings it back (accounts already
//! done that day are not asked again), and after the redrive count moves it
//! to the dead-letter queue.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use shared::{
    service::analytics::SnapshotSlice,
    startup::AnalyticsSnapshot,
    support::{deadline::Deadline, errors::chain_line},
};
use tracing::Instrument;

pub async fn handle(app: &AnalyticsSnapshot, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    if event.payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.payload)?;
        return Ok(serde_json::to_value(work(app, batch, deadline).await)?);
    }
    let slices = app
        .snapshots
        .plan(app.shards)
        .await
        .map_err(|e| Error::from(chain_line(&e)))?;
    app.queue
        .send_all(&slices, std::time::Duration::ZERO)
        .await
        .map_err(|e| Error::from(chain_line(&e)))?;
    tracing::info!(planned = slices.len(), "analytics planned");
    Ok(json!({"action": "plan", "planned": slices.len()}))
}

async fn work(app: &AnalyticsSnapshot, batch: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_record", message_id = %message_id);
        let outcome = async {
            let slice: SnapshotSlice =
                serde_json::from_str(record.body.as_deref().unwrap_or_default())
                    .map_err(|e| tracing::error!(error = %e, "not a slice of the analytics index"))?;
            let report = app
                .snapshots
                .work(slice, deadline)
                .await
                .map_err(|e| tracing::error!(error = %chain_line(&e), "the slice failed; it will be retried"))?;
            for (account_id, reason) in &report.skipped {
                tracing::info!(account_id = %account_id, reason = %reason, "skipped");
            }
            for (account_id, reason) in &report.failed {
                tracing::warn!(account_id = %account_id, reason = %reason, "snapshot failed");
            }
            tracing::info!(
                taken = report.taken,
                already_done = report.already_done,
                skipped = report.skipped.len(),
                failed = report.failed.len(),
                continued = report.rest.is_some(),
                "slice handled"
            );
            if let Some((rest, delay)) = report.rest {
                app.queue.send_all(&[rest], delay).await.map_err(|e| {
                    tracing::error!(error = %chain_line(&e), "the rest of the slice could not be sent; it will be retried")
                })?;
            }
            Ok::<(), ()>(())
        }
        .instrument(span)
        .await;
        if outcome.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
