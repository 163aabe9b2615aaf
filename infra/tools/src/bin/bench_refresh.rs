//! Benchmark of the token-refresh sweep against the local emulator and the
//! TikTok sandbox (run as its own process, with per-call latency).
//!
//!     infra/bench/refresh.sh [--accounts 10000] [--latency-ms 100]
//!         [--concurrency 32] [--sequential-sample 200]
//!
//! Prints the sweep's wall time and refreshes per second, the ideal
//! (N × latency / concurrency), AWS calls per refreshed account, the peak
//! RSS during the sweep, and the same accounts refreshed one at a time.

use std::time::Instant;

use anyhow::{Context, anyhow};
use futures::{StreamExt, stream};
use shared::{
    adapters::{
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
    },
    domain::ids::AccountId,
    service::refresh::{Command, Outcome, RefreshSettings},
};
use tools::{
    aws_endpoint,
    aws_proxy::AwsProxy,
    bench::{peak_rss_kib, reset_peak_rss},
    seed::{self, Freshness},
};

struct Args {
    accounts: usize,
    latency_ms: u64,
    concurrency: usize,
    sequential_sample: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        accounts: 10_000,
        latency_ms: 100,
        concurrency: RefreshSettings::default().concurrency,
        sequential_sample: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value"))?
            .parse()
            .with_context(|| format!("{flag} takes a number"))?;
        match flag.as_str() {
            "--accounts" => args.accounts = value,
            "--latency-ms" => args.latency_ms = value as u64,
            "--concurrency" => args.concurrency = value,
            "--sequential-sample" => args.sequential_sample = value,
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let http = reqwest::Client::new();
    let tools::bench::Stack {
        clients,
        sandbox,
        mut env,
        ..
    } = tools::bench::stack().await?;
    let proxy = AwsProxy::spawn(aws_endpoint()).await?;
    env.set("AWS_ENDPOINT_URL", proxy.url.clone());
    env.set("REFRESH_CONCURRENCY", args.concurrency.to_string());
    let refresher = shared::startup::token_refresh(&env).await?.refresher;

    // Seed: N connected accounts, all due.
    let started = Instant::now();
    let store = Store::new(clients.dynamodb.clone(), &TableName::from_env(&env)?);
    let sealer = KmsSealer::new(clients.kms.clone(), KeyId::from_env(&env)?);
    let ids: Vec<AccountId> = (0..args.accounts)
        .map(|i| AccountId::parse(format!("bench-{i}")))
        .collect::<Result<_, _>>()?;
    let scopes = "user.info.basic,video.upload";
    let seeded = stream::iter(ids.iter().cloned())
        .map(|id| {
            let (http, store, sealer, url) = (&http, &store, &sealer, &sandbox.url);
            async move {
                let tokens = seed::sandbox_grant(http, url, id.as_ref(), scopes).await?;
                seed::account(
                    store,
                    sealer,
                    id.as_ref(),
                    "bench-user",
                    scopes,
                    &tokens,
                    Freshness::Due,
                )
                .await
            }
        })
        .buffer_unordered(32)
        .fold(0usize, |n, r| async move {
            if let Err(e) = r {
                eprintln!("seed failed: {e:#}");
            }
            n + 1
        })
        .await;
    eprintln!(
        "seeded {seeded} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    http.post(format!("{}/sandbox/latency", sandbox.url))
        .json(&serde_json::json!({"ms": args.latency_ms}))
        .send()
        .await?;
    proxy.reset_calls();
    reset_peak_rss();
    let started = Instant::now();
    let summary = refresher.run(Command::Sweep { dry_run: false }).await;
    let wall = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib();
    let calls = proxy.all_calls();
    let total_calls: u64 = calls.values().sum();
    let stats: serde_json::Value = http
        .get(format!("{}/sandbox/stats", sandbox.url))
        .send()
        .await?
        .json()
        .await?;

    // The same accounts, one at a time, as the old design did.
    let sample = args.sequential_sample.min(ids.len());
    let started = Instant::now();
    let mut sequential_ok = 0;
    for id in &ids[..sample] {
        if refresher.refresh_now(id).await == Outcome::Refreshed {
            sequential_ok += 1;
        }
    }
    let per_account = started.elapsed().as_secs_f64() / sample.max(1) as f64;
    let sequential = per_account * args.accounts as f64;

    let ideal = args.accounts as f64 * args.latency_ms as f64 / 1000.0 / args.concurrency as f64;
    let mut ops: Vec<_> = calls.into_iter().collect();
    ops.sort();
    println!("token-refresh sweep benchmark");
    println!("  accounts due               {}", args.accounts);
    println!("  sandbox latency per call   {} ms", args.latency_ms);
    println!("  concurrency                {}", args.concurrency);
    println!(
        "  summary                    due {} refreshed {} skipped {} failed {} reauth {}",
        summary.due, summary.refreshed, summary.skipped, summary.failed, summary.reauth_required
    );
    println!(
        "  sandbox                    rotations {} invalid_grant {}",
        stats["rotations"], stats["invalid_grants"]
    );
    println!("  wall time                  {wall:.2} s");
    println!(
        "  refreshes per second       {:.1}",
        summary.refreshed as f64 / wall
    );
    println!("  ideal (N x latency / conc) {ideal:.2} s");
    println!(
        "  AWS calls per refreshed    {:.3} ({total_calls} calls: {})",
        total_calls as f64 / summary.refreshed.max(1) as f64,
        ops.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  AWS calls per second       {:.0} (the emulator's throughput during the sweep)",
        total_calls as f64 / wall
    );
    println!(
        "  peak RSS during the sweep  {:.1} MB",
        peak as f64 / 1024.0
    );
    println!(
        "  sequential loop            {:.1} ms per account over {sample} accounts ({sequential_ok} refreshed); {:.1} s for all {}{}",
        per_account * 1000.0,
        sequential,
        args.accounts,
        if sample < args.accounts {
            " (extrapolated)"
        } else {
            ""
        }
    );
    println!("  speed-up over sequential   {:.1}x", sequential / wall);
    Ok(())
}
