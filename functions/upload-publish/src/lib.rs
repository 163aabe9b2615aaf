//! `upload-publish`: SQS messages (S3 ObjectCreated notifications for the
//! upload bucket, and our own deferred publishes and status checks) in;
//! videos published to TikTok exactly once.
//!
//! Each record is handled on its own; a record that must come back (a store
//! or queue outage, or a body we cannot read) is reported as a batch item
//! failure, so SQS redelivers only it. On its last receive
//! (`PUBLISH_MAX_RECEIVES`, the queue's redrive count) a record that still
//! fails also fails its uploads with the reason, so none stays `publishing`
//! while the record goes to the dead-letter queue. No
//! chunk is sent that may not finish before the invocation's deadline.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::{
    service::publish::Publisher,
    support::{deadline::Deadline, errors::chain_line},
};
use tracing::Instrument;

pub async fn handle(
    app: &Publisher,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let span = tracing::info_span!("sqs_record", message_id = %message_id);
        let outcome = async {
            let message = app
                .read_message(record.body.as_deref().unwrap_or_default())
                .map_err(|e| {
                    tracing::error!(error = %e, "unreadable message");
                })?;
            match app.handle_within(message.clone(), deadline).await {
                Ok(handled) => {
                    tracing::info!(?handled, "message handled");
                    Ok(())
                }
                Err(e) if receives >= app.max_receives() => {
                    // SQS moves it to the dead-letter queue now (for the
                    // operator's alarm); its uploads end failed with the
                    // reason, so none stays `publishing`.
                    tracing::error!(error = %chain_line(&e), receives, "message failed its last receive");
                    if let Err(e) = app.give_up(&message, &e).await {
                        tracing::error!(error = %chain_line(&e), "could not fail its uploads");
                    }
                    Err(())
                }
                Err(e) => {
                    tracing::error!(error = %chain_line(&e), "message failed; it will be retried");
                    Err(())
                }
            }
        }
        .instrument(span)
        .await;
        if outcome.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
