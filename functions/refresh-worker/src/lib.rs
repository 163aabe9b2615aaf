//! `refresh-worker`: the refresh queue's slices in (one per shard with due
//! accounts, sent by token-refresh's plan, or the rest of one a worker ran
//! out of time for); each slice's due accounts refreshed exactly once, the
//! most urgent first, none started that cannot finish before the
//! invocation's deadline, and the rest sent back to the queue.
//!
//! A record whose rest could not be sent, or whose body is not a slice, is
//! reported as a batch item failure: SQS brings it back (what it refreshed
//! is no longer due), and after the queue's redrive count moves it to the
//! dead-letter queue, which alarms.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::{
    domain::schedule::Slice,
    startup::RefreshWorker,
    support::{deadline::Deadline, errors::chain_line},
};
use tracing::Instrument;

pub async fn handle(
    app: &RefreshWorker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_record", message_id = %message_id);
        let outcome = async {
            let slice: Slice = serde_json::from_str(record.body.as_deref().unwrap_or_default())
                .map_err(|e| tracing::error!(error = %e, "not a slice of the due index"))?;
            match app.refresher.work(slice, deadline, &app.queue).await {
                Ok(done) => {
                    tracing::info!(continued = done.continued.is_some(), "slice handled");
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %chain_line(&e), "the rest of the slice could not be sent; it will be retried");
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
