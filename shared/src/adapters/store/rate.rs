//! Rate counters: `RATE#{scope}#{key}#{window}`, one conditional
//! `UpdateItem` per decision (`ADD hits :one` if `hits < :max`). A failed
//! condition is a denial; `ttl` cleans the counters up.

use aws_sdk_dynamodb::{error::ProvideErrorMetadata, types::ReturnValue};
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{get_n, n, s, unavailable},
};
use crate::{
    domain::{
        ports::StoreError,
        ratelimit::{Decision, RateLimit},
    },
    support::metrics,
};

impl Store {
    /// One rate-limit decision: a single conditional `UpdateItem` that adds
    /// a hit unless the window's counter has reached `max`.
    #[tracing::instrument(name = "store.rate_hit", skip_all, fields(scope = limit.scope))]
    pub async fn rate_hit(
        &self,
        limit: &RateLimit,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let window = limit.window(now);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                s(format!("RATE#{}#{key}#{}", limit.scope, window.index)),
            )
            .key("sk", s("RATE"))
            .update_expression("ADD hits :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(i64::from(limit.max)))
            .expression_attribute_values(":ttl", n(window.ends_at + 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match output {
            Ok(output) => {
                let hits = output
                    .attributes
                    .as_ref()
                    .map(|a| get_n(a, "hits"))
                    .transpose()?
                    .unwrap_or(1);
                Ok(Decision::Allowed {
                    remaining: (i64::from(limit.max) - hits).max(0) as u32,
                })
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                metrics::count(("Scope", limit.scope), &[("RateLimited", 1)]);
                Ok(Decision::Denied {
                    retry_after_seconds: limit.retry_after(now),
                })
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (rate)")(e)),
        }
    }
}
