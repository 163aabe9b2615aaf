//! `token-refresh`: the scheduled sweep (EventBridge, every 30 minutes), and
//! on demand `{"action": "sweep" | "refresh" | "cleanup", ...}`. Returns a
//! summary, never a token.

use lambda_runtime::{Error, LambdaEvent};
use shared::service::refresh::{Command, Refresher, Summary};

pub async fn handle(
    app: &Refresher,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, Error> {
    let command = Command::from_event(&event.payload)?;
    tracing::info!(?command, "token-refresh invoked");
    Ok(app.run(command).await)
}
