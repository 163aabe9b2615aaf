//! `token-refresh`: the schedule's invocation (EventBridge, every 30
//! minutes) sweeps every due account (`REFRESH_MODE=sweep`) or plans the
//! sweep as slices for `refresh-worker` (`fanout`); on demand
//! `{"action": "sweep" | "refresh" | "cleanup", ...}` in either mode.
//! Returns a summary, never a token. No refresh is started that cannot
//! finish before the invocation's deadline; what is left goes to the next
//! sweep.

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use shared::{
    service::refresh::{Command, PlanSummary, Summary},
    startup::TokenRefresh,
    support::deadline::Deadline,
};

/// What an invocation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Summary(Summary),
    Plan(PlanSummary),
}

pub async fn handle(
    app: &TokenRefresh,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Answer, Error> {
    let command = Command::from_event(&event.payload)?;
    tracing::info!(
        ?command,
        deadline_ms = event.context.deadline,
        "token-refresh invoked"
    );
    if let (Some(queue), true) = (&app.plans_to, Command::is_scheduled(&event.payload)) {
        return Ok(Answer::Plan(app.refresher.plan(queue).await?));
    }
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    Ok(Answer::Summary(
        app.refresher.run_until(command, deadline).await,
    ))
}
