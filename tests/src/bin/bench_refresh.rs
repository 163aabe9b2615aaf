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
use chrono::Utc;
use flows::{
    Clients, aws_endpoint,
    aws_proxy::AwsProxy,
    bench::{peak_rss_kib, reset_peak_rss, start_sandbox},
    provision,
};
use futures::{StreamExt, stream};
use shared::{
    account::{Account, AccountId, AccountStatus, Profile, Scopes, UserId},
    config::TableName,
    refresh::{Command, Outcome},
    store::Store,
    tokens::{AccessToken, KmsSealer, RefreshToken, TokenSet},
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
        concurrency: shared::refresh::RefreshSettings::default().concurrency,
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
    let admin = flows::emulator_env(&aws_endpoint());
    let clients = Clients::new(&shared::aws::load(&admin).await);
    let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let p = provision::provision(&clients, &prefix).await?;
    let sandbox = start_sandbox("bench_key", "bench_secret").await?;
    let proxy = AwsProxy::spawn(aws_endpoint()).await?;
    let mut env = admin.clone();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", proxy.url.clone()),
        ("TABLE_NAME", p.table.clone()),
        ("TOKEN_KEY_ID", p.key_id.clone()),
        ("TIKTOK_CLIENT_KEY", "bench_key".into()),
        ("TIKTOK_CLIENT_SECRET", "bench_secret".into()),
        ("TIKTOK_API_BASE_URL", sandbox.url.clone()),
        ("REFRESH_CONCURRENCY", args.concurrency.to_string()),
    ] {
        env.set(k, v);
    }
    let refresher = shared::startup::token_refresh(&env).await?;

    // Seed: N connected accounts, all due.
    let started = Instant::now();
    let store = Store::new(clients.dynamodb.clone(), &TableName::from_env(&env)?);
    let sealer = KmsSealer::new(clients.kms.clone(), p.key_id.clone());
    let now = Utc::now();
    let ids: Vec<AccountId> = (0..args.accounts)
        .map(|i| AccountId::parse(format!("bench-{i}")))
        .collect::<Result<_, _>>()?;
    let seeded = stream::iter(ids.iter().cloned())
        .map(|id| {
            let (http, store, sealer, url) = (&http, &store, &sealer, &sandbox.url);
            async move {
                let grant: serde_json::Value = http
                    .post(format!("{url}/sandbox/grants"))
                    .json(&serde_json::json!({"open_id": id.as_ref(), "scope": "user.info.basic,video.upload"}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let tokens = TokenSet {
                    access: AccessToken::parse(grant["access_token"].as_str().unwrap_or_default())?,
                    refresh: RefreshToken::parse(grant["refresh_token"].as_str().unwrap_or_default())?,
                };
                let account = Account {
                    owner: UserId::parse("bench-user")?,
                    profile: Profile {
                        display_name: id.to_string(),
                        avatar_url: None,
                    },
                    status: AccountStatus::Active,
                    scopes: Scopes::parse("user.info.basic,video.upload")?,
                    access_expires_at: now + chrono::Duration::minutes(10),
                    refresh_expires_at: now + chrono::Duration::days(100),
                    last_refreshed_at: None,
                    last_error: None,
                    connected_at: now - chrono::Duration::hours(1),
                    token_version: 1,
                    sealed_tokens: Some(sealer.seal(&id, &tokens).await?),
                    id,
                };
                store.put_account(&account, None).await?;
                anyhow::Ok(())
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
