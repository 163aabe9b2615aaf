//! Where a cold start's time goes. `main` begins the record, the startup
//! marks the end of each step (SDK configuration, client secret, config,
//! clients; `aws::load` marks the SDK configuration), and `main` finishes
//! it with one debug line,
//! `{"steps": "tracing=…,sdk_config=…,…"}`, each step's end in microseconds
//! since the Unix epoch (`RUST_LOG=shared::support::init_steps=debug`). The
//! cold-start bench reads it beside the process's spawn and its first poll
//! of the runtime API.
//!
//! Nothing is recorded unless `main` began a record: tests build apps
//! without one.

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

static STEPS: Mutex<Option<Vec<(&'static str, u128)>>> = Mutex::new(None);

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

/// Begins the record: `main` starts now.
pub fn begin() {
    if let Ok(mut steps) = STEPS.lock() {
        *steps = Some(vec![("main", now_us())]);
    }
}

/// Marks the end of `step`, if a record was begun.
pub fn mark(step: &'static str) {
    if let Ok(mut steps) = STEPS.lock()
        && let Some(steps) = steps.as_mut()
    {
        steps.push((step, now_us()));
    }
}

/// Ends the record and logs it at debug level.
pub fn finish() {
    mark("startup");
    let steps = STEPS.lock().ok().and_then(|mut s| s.take());
    if let Some(steps) = steps
        && tracing::enabled!(tracing::Level::DEBUG)
    {
        let line: Vec<String> = steps.iter().map(|(s, at)| format!("{s}={at}")).collect();
        tracing::debug!(steps = %line.join(","), "init steps");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Option<Vec<&'static str>> {
        STEPS.lock().ok().and_then(|s| {
            s.as_ref()
                .map(|v| v.iter().map(|(step, _)| *step).collect())
        })
    }

    #[test]
    fn steps_are_recorded_in_order_between_begin_and_finish_only() {
        mark("before");
        assert_eq!(recorded(), None, "nothing without a record");
        begin();
        mark("sdk_config");
        mark("config");
        let steps = recorded().expect("a record");
        assert_eq!(steps, ["main", "sdk_config", "config"]);
        finish();
        assert_eq!(recorded(), None, "finished");
        mark("after");
        assert_eq!(recorded(), None);
    }
}
