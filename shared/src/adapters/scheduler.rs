//! One-time EventBridge Scheduler schedules that send a message to the
//! publish queue at a chosen time: a post's start (`post-{post_id}`), or a
//! target's wake after a quota longer than SQS's 15-minute delay
//! (`wake-{upload_id}`). Each is `at(...)` in UTC, with no flexible window,
//! deleted after it fires, with a dead-letter queue.

use std::fmt;

use aws_sdk_scheduler::{
    error::ProvideErrorMetadata,
    types::{
        ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
        RetryPolicy, Target,
    },
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::env::{ConfigError, Env};

/// Where schedules live and what they send to.
#[derive(Clone, Debug)]
pub struct ScheduleSettings {
    /// `POST_SCHEDULE_GROUP`: the group every schedule of ours lives in.
    pub group: String,
    /// `PUBLISH_QUEUE_ARN`: the queue each schedule sends to.
    pub queue_arn: String,
    /// `POST_SCHEDULER_ROLE_ARN`: the role EventBridge Scheduler assumes.
    pub role_arn: String,
    /// `POST_SCHEDULE_DLQ_ARN`: where a message that cannot be sent goes.
    pub dead_letter_arn: String,
}

impl ScheduleSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let arn = |name: &'static str| -> Result<String, ConfigError> {
            let value = env.required(name)?;
            if value.starts_with("arn:") {
                Ok(value.to_owned())
            } else {
                Err(ConfigError::malformed(name, "must be an ARN"))
            }
        };
        Ok(Self {
            group: env.required("POST_SCHEDULE_GROUP")?.to_owned(),
            queue_arn: arn("PUBLISH_QUEUE_ARN")?,
            role_arn: arn("POST_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: arn("POST_SCHEDULE_DLQ_ARN")?,
        })
    }
}

#[derive(thiserror::Error)]
pub enum ScheduleError {
    #[error("EventBridge Scheduler is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// A schedule as stored, for checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleView {
    pub expression: String,
    pub input: String,
    pub target_arn: String,
}

#[derive(Clone)]
pub struct Schedules {
    client: crate::adapters::aws::LazyClient<aws_sdk_scheduler::Client>,
    settings: ScheduleSettings,
}

/// The schedule expression for `at`: whole seconds, UTC.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

fn unavailable<E>(operation: &'static str) -> impl FnOnce(E) -> ScheduleError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| ScheduleError::Unavailable(anyhow::Error::new(e).context(operation))
}

impl Schedules {
    pub fn new(
        client: impl Into<crate::adapters::aws::LazyClient<aws_sdk_scheduler::Client>>,
        settings: ScheduleSettings,
    ) -> Self {
        Self {
            client: client.into(),
            settings,
        }
    }

    pub fn group(&self) -> &str {
        &self.settings.group
    }

    /// Sends `message` to the publish queue at `at`: creates the schedule
    /// `name`, or moves it if it exists.
    #[tracing::instrument(name = "schedules.put", skip_all, fields(schedule = name))]
    pub async fn put(
        &self,
        name: &str,
        at: DateTime<Utc>,
        message: &impl Serialize,
    ) -> Result<(), ScheduleError> {
        let input = serde_json::to_string(message)
            .map_err(|e| ScheduleError::Unavailable(anyhow::Error::new(e)))?;
        let target = Target::builder()
            .arn(&self.settings.queue_arn)
            .role_arn(&self.settings.role_arn)
            .input(input)
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.settings.dead_letter_arn)
                    .build(),
            )
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(185)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            )
            .build()
            .map_err(unavailable("Scheduler Target builder"))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(unavailable("Scheduler FlexibleTimeWindow builder"))?;
        let created = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.settings.group)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target.clone())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConflictException") => {
                self.client
                    .update_schedule()
                    .name(name)
                    .group_name(&self.settings.group)
                    .schedule_expression(at_expression(at))
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(window)
                    .action_after_completion(ActionAfterCompletion::Delete)
                    .target(target)
                    .send()
                    .await
                    .map_err(unavailable("Scheduler UpdateSchedule"))?;
                Ok(())
            }
            Err(e) => Err(unavailable("Scheduler CreateSchedule")(e)),
        }
    }

    /// Deletes the schedule `name`; one already gone is fine.
    #[tracing::instrument(name = "schedules.delete", skip_all, fields(schedule = name))]
    pub async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.settings.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(unavailable("Scheduler DeleteSchedule")(e)),
        }
    }

    /// The schedule `name`, if it exists.
    pub async fn get(&self, name: &str) -> Result<Option<ScheduleView>, ScheduleError> {
        match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.settings.group)
            .send()
            .await
        {
            Ok(output) => Ok(Some(ScheduleView {
                expression: output.schedule_expression.unwrap_or_default(),
                input: output
                    .target
                    .as_ref()
                    .and_then(|t| t.input.clone())
                    .unwrap_or_default(),
                target_arn: output.target.map(|t| t.arn).unwrap_or_default(),
            })),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(unavailable("Scheduler GetSchedule")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn at_expressions_are_utc_whole_seconds() {
        let t = Utc.timestamp_millis_opt(1_800_000_000_123).unwrap();
        assert_eq!(at_expression(t), "at(2027-01-15T08:00:00)");
    }
}
