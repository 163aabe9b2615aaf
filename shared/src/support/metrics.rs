//! Metrics in CloudWatch Embedded Metric Format: one JSON line per record on
//! stdout, which CloudWatch Logs turns into metrics (namespace
//! [`NAMESPACE`]) without an API call. Only counts and names go in; never a
//! token or any user text.
//!
//! | metric | dimension | emitted by |
//! |---|---|---|
//! | `Due`, `Refreshed`, `RefreshSkipped`, `RefreshFailed`, `ReauthRequired` | `Operation` (`sweep`, `refresh`, `cleanup`) | token-refresh, accounts-api |
//! | `PublishTransferred`, `PublishFailed`, `PublishDeferred`, `PublishDuplicate` | `Operation` (`publish`) | upload-publish |
//! | `UploadsPublished`, `UploadsFailed` (TikTok's final word) | `Operation` (`publish`) | upload-publish (status checks), tiktok-webhook |
//! | `RateLimited` | `Scope` (the limit) | every function that counts |

use std::{
    io::Write,
    sync::{Mutex, OnceLock},
};

pub const NAMESPACE: &str = "TikTokManager";

type Sink = Box<dyn Write + Send>;

fn sink() -> &'static Mutex<Sink> {
    static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(Box::new(std::io::stdout())))
}

/// Sends every later record to `writer` instead of stdout (tests).
pub fn redirect(writer: Sink) {
    *sink().lock().unwrap_or_else(|p| p.into_inner()) = writer;
}

/// One EMF record: counts for `metrics`, under one dimension.
pub fn count(dimension: (&str, &str), metrics: &[(&str, u64)]) {
    if metrics.is_empty() {
        return;
    }
    let line = record(dimension, metrics, chrono::Utc::now().timestamp_millis());
    let mut sink = sink().lock().unwrap_or_else(|p| p.into_inner());
    // Metrics must never take a function down: a failed write is dropped.
    let _ = writeln!(sink, "{line}");
    let _ = sink.flush();
}

fn record(dimension: (&str, &str), metrics: &[(&str, u64)], timestamp_ms: i64) -> String {
    let definitions: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut root = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension.0]],
                "Metrics": definitions,
            }]
        }
    });
    root[dimension.0] = serde_json::Value::String(dimension.1.to_owned());
    for (name, value) in metrics {
        root[*name] = serde_json::json!(value);
    }
    root.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_the_embedded_metric_format() {
        let line = record(
            ("Operation", "sweep"),
            &[("Refreshed", 3), ("RefreshFailed", 1)],
            1_800_000_000_000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_800_000_000_000i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Operation"]]));
        assert_eq!(
            directive["Metrics"][1],
            serde_json::json!({"Name": "RefreshFailed", "Unit": "Count"})
        );
        assert_eq!(v["Operation"], "sweep");
        assert_eq!(
            (v["Refreshed"].as_u64(), v["RefreshFailed"].as_u64()),
            (Some(3), Some(1))
        );
        assert!(!line.contains('\n'));
    }
}
