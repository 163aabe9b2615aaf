//! What a scenario measured, as labelled rows, their cost at list prices,
//! and the table of several scenarios side by side.

use super::{Config, Fanout, Sequential, model::OutageKind};

pub use tools::prices::*;

// Request units per operation on the account table. An account item is
// about 1.5 KB (its sealed tokens included): 2 WRU a write. The `by_owner`
// index projects every attribute, so each write is written there too; the
// keys-only `due` index changes only when `due_at` does (a refresh or a
// flag: the old entry deleted, the new one written).

/// A refresh's compare-and-swap (or a flag): item, `by_owner`, `due`.
pub const ACCOUNT_PUT_WRU: f64 = 2.0 + 2.0 + 2.0;
/// A lease taken or released, or a failure recorded: item and `by_owner`.
pub const LEASE_UPDATE_WRU: f64 = 2.0 + 2.0;
/// A strongly consistent read of one account item (under 4 KB).
pub const ACCOUNT_GET_RRU: f64 = 1.0;
/// The shard-span record, read and written by each plan.
pub const SPAN_GET_RRU: f64 = 1.0;
pub const SPAN_PUT_WRU: f64 = 1.0;

/// Cost of the whole run, by service, in dollars.
pub struct Cost {
    pub dynamodb: f64,
    pub kms: f64,
    pub sqs: f64,
    pub lambda: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.dynamodb + self.kms + self.sqs + self.lambda
    }
}

pub fn cost(cfg: &Config, run: &Fanout) -> Cost {
    let c = &run.world.calls;
    let wru = c.put_item.get() as f64 * ACCOUNT_PUT_WRU
        + c.update_item.get() as f64 * LEASE_UPDATE_WRU
        + c.span_put.get() as f64 * SPAN_PUT_WRU;
    let rru = c.get_item.get() as f64 * ACCOUNT_GET_RRU
        + c.span_get.get() as f64 * SPAN_GET_RRU
        + c.query_half_rru.get() as f64 * 0.5;
    let kms = (c.kms_encrypt.get() + c.kms_decrypt.get()) as f64;
    let sqs = (c.sqs_send.get() + c.sqs_receive.get() + c.sqs_delete.get()) as f64;
    let t = &run.tally;
    let gb = cfg.memory_mb / 1024.0;
    let gb_seconds = (t.busy_ms + t.planner_ms) as f64 / 1000.0 * gb;
    let requests = (t.invocations + t.planner_invocations) as f64;
    Cost {
        dynamodb: wru / 1e6 * DYNAMODB_WRU_PER_MILLION_USD
            + rru / 1e6 * DYNAMODB_RRU_PER_MILLION_USD,
        kms: kms / 1e4 * KMS_PER_10K_REQUESTS_USD,
        sqs: sqs / 1e6 * SQS_PER_MILLION_REQUESTS_USD,
        lambda: requests / 1e6 * LAMBDA_PER_MILLION_REQUESTS_USD
            + gb_seconds * LAMBDA_ARM64_PER_GB_SECOND_USD,
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn hours_text(h: f64) -> String {
    if (h - h.round()).abs() < 1e-9 {
        format!("{h:.0}h")
    } else {
        format!("{h:.1}h")
    }
}

/// The scenario's rows, in order: (label, value).
pub fn rows(
    cfg: &Config,
    run: &Fanout,
    sequential: Option<&Sequential>,
    wall_s: f64,
    peak_rss_kib: u64,
) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |label: &str, value: String| rows.push((label.to_owned(), value));
    let c = &run.world.calls;
    let m = run.world.measure();
    let t = &run.tally;
    let per = |n: u64| n as f64 / run.rotations.max(1) as f64;

    row("accounts", thousands(cfg.accounts as u64));
    row(
        "access lifetime",
        if cfg.mix_24h > 0.0 {
            format!(
                "{} ({:.0}% 24h)",
                hours_text(cfg.access_hours),
                cfg.mix_24h * 100.0
            )
        } else {
            hours_text(cfg.access_hours)
        },
    );
    row(
        "shards / max workers / per-worker concurrency",
        format!("{} / {} / {}", cfg.shards, cfg.max_workers, cfg.concurrency),
    );
    row(
        "simulated: warm-up + measured",
        format!(
            "{} + {}",
            hours_text(cfg.warmup_hours),
            hours_text(cfg.hours - cfg.warmup_hours)
        ),
    );
    let outage = match run.outage {
        Some((from, until)) => format!(
            "{} {} from +{}",
            hours_text((until - from).num_minutes() as f64 / 60.0),
            match cfg.outage_kind {
                OutageKind::ServerError => "5xx",
                OutageKind::Timeout => "timeouts",
            },
            hours_text((from - run.start).num_minutes() as f64 / 60.0)
        ),
        None => "none".into(),
    };
    row(
        "TikTok: median/p99 ms, 429s, 5xx, outage",
        format!(
            "{:.0}/{:.0}, {:.0}%, {:.0}%, {}",
            cfg.median_ms,
            cfg.p99_ms,
            cfg.rate_429 * 100.0,
            cfg.rate_5xx * 100.0,
            outage
        ),
    );
    row("refreshes (measured)", thousands(m.refreshed));
    let measured_minutes = (run.measured_s / 60.0).floor() as usize;
    let from_minute = ((m.from_ms - m.start_ms) / 60_000) as usize;
    let peak_minute = m
        .per_minute
        .iter()
        .skip(from_minute)
        .take(measured_minutes)
        .max()
        .copied()
        .unwrap_or(0);
    row(
        "refreshes/s: mean / peak minute",
        format!(
            "{:.1} / {:.1}",
            m.refreshed as f64 / run.measured_s.max(1.0),
            peak_minute as f64 / 60.0
        ),
    );
    row(
        "due -> refreshed lag p50 / p99 / max (min)",
        format!(
            "{:.1} / {:.1} / {:.1}",
            m.lag_quantile(0.5) / 60.0,
            m.lag_quantile(0.99) / 60.0,
            m.lag_max_ms as f64 / 60_000.0
        ),
    );
    row(
        "expired before refresh: outside outage",
        thousands(m.expired_outside),
    );
    row(
        "expired before refresh: outage + 2 plans",
        if run.outage.is_some() {
            thousands(m.expired_in_outage)
        } else {
            "-".into()
        },
    );
    row(
        "most expired at once / at the end",
        format!(
            "{} / {}",
            thousands(run.peak_expired),
            thousands(run.expired_at_end)
        ),
    );
    row(
        "recovery after the outage (no account expired)",
        match (run.outage, run.recovery_min) {
            (None, _) => "-".into(),
            (Some(_), Some(min)) => format!("{min:.0} min"),
            (Some(_), None) => "not within the run".into(),
        },
    );
    row(
        "duplicate refreshes (invalid_grant)",
        thousands(c.invalid_grant.get()),
    );
    row("accounts reauth_required", thousands(c.flagged.get()));
    row(
        "TikTok calls per refresh (429 / 5xx / timeouts)",
        format!(
            "{:.3} ({} / {} / {})",
            per(c.tiktok.get()),
            thousands(c.tiktok_429.get()),
            thousands(c.tiktok_5xx.get()),
            thousands(c.tiktok_timeout.get())
        ),
    );
    row(
        "DynamoDB per refresh: Get / Put / Update / Query",
        format!(
            "{:.3} / {:.3} / {:.3} / {:.3}",
            per(c.get_item.get() + c.span_get.get()),
            per(c.put_item.get() + c.span_put.get()),
            per(c.update_item.get()),
            per(c.query.get())
        ),
    );
    row(
        "KMS per refresh: Encrypt / Decrypt",
        format!(
            "{:.3} / {:.3}",
            per(c.kms_encrypt.get()),
            per(c.kms_decrypt.get())
        ),
    );
    row(
        "SQS per refresh: send / receive / delete",
        format!(
            "{:.4} / {:.4} / {:.4}",
            per(c.sqs_send.get()),
            per(c.sqs_receive.get()),
            per(c.sqs_delete.get())
        ),
    );
    let gb_seconds = (t.busy_ms + t.planner_ms) as f64 / 1000.0 * cfg.memory_mb / 1024.0;
    row(
        "Lambda: worker invocations / GB-s (arm64)",
        format!(
            "{} / {:.0} at {:.0} MB",
            thousands(t.invocations),
            gb_seconds,
            cfg.memory_mb
        ),
    );
    let cost = cost(cfg, run);
    let million = 1e6 / run.rotations.max(1) as f64;
    row(
        "$ per 1M refreshes: DynamoDB / KMS / SQS / Lambda",
        format!(
            "{:.2} / {:.2} / {:.3} / {:.2}",
            cost.dynamodb * million,
            cost.kms * million,
            cost.sqs * million,
            cost.lambda * million
        ),
    );
    row(
        "$ per 1M refreshes: total",
        format!("{:.2}", cost.total() * million),
    );
    row(
        "peak workers busy / in-flight limit: lowest, mean",
        format!(
            "{} / {}, {:.1}",
            t.peak_busy,
            t.min_limit,
            t.limit_sum as f64 / t.limit_samples.max(1) as f64
        ),
    );
    row(
        "slices sent / planned / continued / retried",
        format!(
            "{} / {} / {} / {}",
            thousands(run.slices_sent),
            thousands(t.slices_planned),
            thousands(t.continued),
            thousands(t.work_errors)
        ),
    );
    row(
        "worker outcomes: failed / left / skipped",
        format!(
            "{} / {} / {}",
            thousands(t.failed),
            thousands(t.left),
            thousands(t.skipped)
        ),
    );
    let busy_s = t.busy_ms as f64 / 1000.0;
    row(
        "refreshes per busy worker-second",
        format!("{:.1}", t.refreshed as f64 / busy_s.max(1e-9)),
    );
    match sequential {
        Some(seq) => {
            // Mean time between two refreshes of one account, measured.
            let interval_s = cfg.accounts as f64 * run.measured_s / m.refreshed.max(1) as f64;
            let per_run = seq.rate() * cfg.worker_timeout_s;
            let kept = per_run * interval_s / super::SWEEP_INTERVAL.num_seconds() as f64;
            row(
                "sequential (1 at a time): refreshes/s",
                format!("{:.2}", seq.rate()),
            );
            row(
                "sequential: most accounts kept fresh",
                format!("~{}", thousands(kept as u64)),
            );
            row(
                "fan-out peak minute / sequential",
                format!("{:.0}x", peak_minute as f64 / 60.0 / seq.rate().max(1e-9)),
            );
        }
        None => {
            for label in [
                "sequential (1 at a time): refreshes/s",
                "sequential: most accounts kept fresh",
                "fan-out peak minute / sequential",
            ] {
                row(label, "-".into());
            }
        }
    }
    row(
        "wall time / peak RSS",
        format!("{:.0} s / {:.0} MiB", wall_s, peak_rss_kib as f64 / 1024.0),
    );
    rows
}

/// One scenario as a JSON line, for [`render`].
pub fn json_line(name: &str, rows: &[(String, String)]) -> String {
    serde_json::json!({
        "name": name,
        "rows": rows.iter().map(|(l, v)| [l, v]).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Reads a scenario from one of [`json_line`]'s lines.
pub fn parse_line(line: &str) -> Option<(String, Vec<(String, String)>)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = value.get("name")?.as_str()?.to_owned();
    let rows = value
        .get("rows")?
        .as_array()?
        .iter()
        .filter_map(|row| {
            let pair = row.as_array()?;
            Some((
                pair.first()?.as_str()?.to_owned(),
                pair.get(1)?.as_str()?.to_owned(),
            ))
        })
        .collect();
    Some((name, rows))
}

/// Scenarios side by side: one column each, one row per measurement.
pub fn render(scenarios: &[(String, Vec<(String, String)>)]) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for (_, rows) in scenarios {
        for (label, _) in rows {
            if !labels.contains(&label.as_str()) {
                labels.push(label);
            }
        }
    }
    let cell = |scenario: &(String, Vec<(String, String)>), label: &str| -> String {
        scenario
            .1
            .iter()
            .find(|(l, _)| l == label)
            .map_or_else(|| "-".to_owned(), |(_, v)| v.clone())
    };
    let label_width = labels
        .iter()
        .map(|l| l.len())
        .max()
        .unwrap_or(0)
        .max("scenario".len());
    let widths: Vec<usize> = scenarios
        .iter()
        .map(|s| {
            labels
                .iter()
                .map(|l| cell(s, l).len())
                .max()
                .unwrap_or(0)
                .max(s.0.len())
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, first: &str, cells: Vec<String>| {
        out.push_str(&format!("| {first:<label_width$} |"));
        for (cell, width) in cells.iter().zip(&widths) {
            out.push_str(&format!(" {cell:>width$} |"));
        }
        out.push('\n');
    };
    line(
        &mut out,
        "scenario",
        scenarios.iter().map(|s| s.0.clone()).collect(),
    );
    out.push_str(&format!("|{}|", "-".repeat(label_width + 2)));
    for width in &widths {
        out.push_str(&format!("{}:|", "-".repeat(width + 1)));
    }
    out.push('\n');
    for label in labels {
        line(
            &mut out,
            label,
            scenarios.iter().map(|s| cell(s, label)).collect(),
        );
    }
    out
}
