//! `token-refresh`: the scheduled sweep (EventBridge, every 30 minutes), and
//! on demand `{"action": "sweep" | "refresh" | "cleanup", ...}`. Returns a
//! summary, never a token. No refresh is started that cannot finish before
//! the invocation's deadline; what is left goes to the next sweep.

use lambda_runtime::{Error, LambdaEvent};
use shared::{
    service::refresh::{Command, Refresher, Summary},
    support::deadline::Deadline,
};

pub async fn handle(
    app: &Refresher,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, Error> {
    let command = Command::from_event(&event.payload)?;
    tracing::info!(?command, "token-refresh invoked");
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    Ok(app.run_until(command, deadline).await)
}
