//! Benchmark of the daily analytics snapshot, fanned out, against the
//! emulator and the TikTok sandbox (its own process, with per-call
//! latency), and of what it does to a token-refresh sweep at the same time.
//!
//!     infra/bench/analytics.sh [--accounts 2000] [--videos 20] [--latency-ms 100]
//!         [--workers 4] [--app-rpm 600] [--refresh-accounts 2000] [--sweeps 3]
//!         [--refresh-endpoint URL]
//!
//! Three stacks, one sandbox:
//! - the first holds `--accounts` connected accounts with every scope and
//!   `--videos` videos each: analytics-snapshot plans today's slices onto
//!   the analytics queue and `--workers` workers (Lambda's SQS poller at the
//!   template's maximum concurrency; each a thread of its own with a
//!   current-thread runtime, as each would be a Lambda of its own) take
//!   them, honouring the delay of a slice handed back, until every account
//!   is done. Printed: the wall time against the ideal under the app-wide
//!   cap (TikTok calls / cap per minute), AWS calls per account (a counting
//!   proxy), bytes stored per account per day (DynamoDB's item sizes,
//!   measured on a sample), TikTok calls, peak RSS.
//! - the second holds as many accounts again, and a third
//!   `--refresh-accounts` accounts due for a refresh (on the emulator at
//!   `--refresh-endpoint`, the snapshot's by default): `--sweeps`
//!   token-refresh sweeps alone, then sweeps back to back while the second
//!   stack's snapshot runs; the sweeps' median wall times, alone and beside
//!   the snapshot, are the delay.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::{StreamExt, stream};
use shared::{
    adapters::{
        aws,
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
    },
    domain::{ids::AccountId, ports::AccountStore},
    env::Env,
    service::{
        analytics::{AnalyticsSettings, SnapshotSlice},
        refresh::Command,
    },
    support::deadline::Deadline,
};
use tools::{
    Clients, aws_endpoint,
    aws_proxy::AwsProxy,
    bench::{SandboxProcess, peak_rss_kib, reset_peak_rss, rss_kib, set_function_env},
    emulator_env,
    prices::*,
    provision,
    seed::{self, ALL_SCOPES, Freshness},
};

/// The refresh accounts' scopes: no analytics, so the snapshot skips them.
const REFRESH_SCOPES: &str = "user.info.basic,video.upload";
/// analytics-snapshot's timeout in the template.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
/// analytics-snapshot's memory in the template (the Globals' 256 MB).
const ANALYTICS_MEMORY_GB: f64 = 0.25;
/// Accounts whose stored items are measured.
const SIZE_SAMPLE: usize = 20;
/// TikTok's paths the snapshot calls.
const USER_INFO: &str = "/v2/user/info/";
const VIDEO_LIST: &str = "/v2/video/list/";

struct Args {
    accounts: usize,
    videos: usize,
    latency_ms: u64,
    workers: usize,
    app_rpm: u32,
    refresh_accounts: usize,
    sweeps: usize,
    /// The emulator the refresh's stack lives on (default: the snapshot's).
    refresh_endpoint: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        accounts: 2_000,
        videos: 20,
        latency_ms: 100,
        workers: 4,
        app_rpm: 600,
        refresh_accounts: 2_000,
        sweeps: 3,
        refresh_endpoint: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        if flag == "--refresh-endpoint" {
            args.refresh_endpoint = Some(value);
            continue;
        }
        let number: usize = value
            .parse()
            .with_context(|| format!("{flag} takes a number"))?;
        match flag.as_str() {
            "--accounts" => args.accounts = number,
            "--videos" => args.videos = number,
            "--latency-ms" => args.latency_ms = number as u64,
            "--workers" => args.workers = number,
            "--app-rpm" => args.app_rpm = number as u32,
            "--refresh-accounts" => args.refresh_accounts = number,
            "--sweeps" => args.sweeps = number,
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    if args.accounts == 0 || args.workers == 0 || args.app_rpm == 0 {
        return Err(anyhow!(
            "--accounts, --workers and --app-rpm must be at least 1"
        ));
    }
    if args.videos > 1000 {
        return Err(anyhow!("--videos is at most 1000 (the setting's maximum)"));
    }
    Ok(args)
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    shared::support::metrics::redirect(Box::new(std::io::sink()));
    let admin = emulator_env(&aws_endpoint());
    let clients = Clients::new(&aws::load(&admin).await);
    let sandbox = tools::bench::start_sandbox("bench_key", "bench_secret").await?;
    let http = reqwest::Client::new();
    let bench = Bench {
        args,
        clients,
        sandbox,
        http,
    };
    bench.latency(0).await?;

    // Everything seeded first, at no latency.
    let started = Instant::now();
    let endpoint = aws_endpoint();
    let mut alone = bench.stack("snapshot alone", &endpoint).await?;
    bench.seed_analytics(&mut alone, "a").await?;
    let mut beside = bench.stack("snapshot beside refreshes", &endpoint).await?;
    bench.seed_analytics(&mut beside, "b").await?;
    let mut refreshes = match &bench.args.refresh_endpoint {
        Some(own) => bench.stack("refreshes", own).await?,
        None => bench.stack("refreshes", &endpoint).await?,
    };
    let refresh_ids = bench.seed_refresh(&mut refreshes).await?;
    eprintln!(
        "seeded {} + {} analytics accounts ({} videos each) and {} refresh accounts in {:.1} s",
        bench.args.accounts,
        bench.args.accounts,
        bench.args.videos,
        refresh_ids.len(),
        started.elapsed().as_secs_f64()
    );
    bench.latency(bench.args.latency_ms).await?;
    println!(
        "analytics snapshot benchmark: {} accounts x {} videos, TikTok at {} ms a call, \
         {} workers, app-wide cap {}/min",
        bench.args.accounts,
        bench.args.videos,
        bench.args.latency_ms,
        bench.args.workers,
        bench.args.app_rpm
    );

    // Sweeps alone.
    let mut sweeps_alone = Vec::new();
    if !refresh_ids.is_empty() {
        for _ in 0..bench.args.sweeps {
            sweeps_alone.push(bench.sweep(&refreshes, &refresh_ids).await?);
        }
    }

    // The snapshot alone.
    let measured = bench.snapshot(&alone).await?;
    bench.report(&measured);
    let sizes = bench.stored_sizes(&alone).await?;
    bench.report_sizes(&measured, &sizes);

    // The snapshot beside back-to-back sweeps.
    let mut sweeps_beside = Vec::new();
    let mut beside_run = None;
    if !refresh_ids.is_empty() {
        let running = bench.start_snapshot(&beside)?;
        while !running.done.load(Ordering::Relaxed) || sweeps_beside.is_empty() {
            sweeps_beside.push(bench.sweep(&refreshes, &refresh_ids).await?);
        }
        beside_run = Some(running.finish().await?);
    }
    if let Some(beside_run) = beside_run {
        bench.report_refresh(&sweeps_alone, &sweeps_beside, &beside_run);
    }
    Ok(())
}

/// A stack of the benchmark's: its resources, the environment a function
/// sees there, and a counting proxy for each function's AWS calls.
struct BenchStack {
    env: Env,
    store: Store,
    sealer: KmsSealer,
    analytics_proxy: Arc<AwsProxy>,
    refresh_proxy: AwsProxy,
    analytics_ids: Vec<AccountId>,
    /// Accounts in the analytics index: what a snapshot run resolves.
    indexed: usize,
}

struct Bench {
    args: Args,
    clients: Clients,
    sandbox: SandboxProcess,
    http: reqwest::Client,
}

/// One sweep: its wall time and what it came to.
struct Sweep {
    wall: f64,
    refreshed: u64,
    failed: u64,
}

/// What one snapshot run measured.
struct Measured {
    wall: f64,
    planned: usize,
    slices: u64,
    taken: u64,
    already_done: u64,
    skipped: u64,
    failed: Vec<String>,
    later: u64,
    retried: u64,
    busy: f64,
    aws_calls: HashMap<String, u64>,
    tiktok_calls: HashMap<String, u64>,
    peak_rss_mb: f64,
    rss_before_mb: f64,
}

/// Bytes DynamoDB stores per account for one day's snapshot.
struct Sizes {
    accounts: usize,
    /// Per kind of item: items and bytes (DynamoDB's item size, plus its
    /// 100 bytes of per-item storage overhead), summed over the sample.
    kinds: Vec<(&'static str, usize, usize)>,
    /// Write request units of the sample's snapshot writes.
    write_units: usize,
}

/// A snapshot run under way on worker threads.
struct Running {
    done: Arc<AtomicBool>,
    finish: tokio::task::JoinHandle<anyhow::Result<Measured>>,
}

impl Running {
    async fn finish(self) -> anyhow::Result<Measured> {
        self.finish.await?
    }
}

/// What the workers count together.
#[derive(Default)]
struct Counts {
    resolved: AtomicU64,
    slices: AtomicU64,
    taken: AtomicU64,
    already_done: AtomicU64,
    skipped: AtomicU64,
    later: AtomicU64,
    /// Slices whose work failed (the emulator timing out) and went round again.
    retried: AtomicU64,
    /// Time the workers spent on slices: Lambda's billed duration.
    busy_micros: AtomicU64,
    failed: std::sync::Mutex<Vec<String>>,
}

impl Bench {
    async fn latency(&self, ms: u64) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/sandbox/latency", self.sandbox.url))
            .json(&serde_json::json!({ "ms": ms }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// A stack of its own on the emulator at `endpoint`.
    async fn stack(&self, name: &str, endpoint: &str) -> anyhow::Result<BenchStack> {
        let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let clients = Clients::new(&aws::load(&emulator_env(endpoint)).await);
        let provisioned = provision::provision(&clients, &prefix)
            .await
            .with_context(|| format!("provisioning the stack {name}"))?;
        let mut env = emulator_env(endpoint);
        set_function_env(&mut env, &provisioned, &self.sandbox)?;
        env.set(
            "ANALYTICS_QUEUE_URL",
            provisioned.analytics_queue_url.clone(),
        );
        env.set(
            "ANALYTICS_APP_REQUESTS_PER_MINUTE",
            self.args.app_rpm.to_string(),
        );
        env.set("ANALYTICS_VIDEOS_PER_ACCOUNT", self.args.videos.to_string());
        let store = Store::new(clients.dynamodb.clone(), &TableName::from_env(&env)?);
        let sealer = KmsSealer::new(clients.kms.clone(), KeyId::from_env(&env)?);
        Ok(BenchStack {
            env,
            store,
            sealer,
            analytics_proxy: Arc::new(AwsProxy::spawn(endpoint.to_owned()).await?),
            refresh_proxy: AwsProxy::spawn(endpoint.to_owned()).await?,
            analytics_ids: Vec::new(),
            indexed: 0,
        })
    }

    /// `--accounts` accounts with every scope, not due for a refresh, each
    /// with `--videos` videos at the sandbox.
    async fn seed_analytics(&self, stack: &mut BenchStack, tag: &str) -> anyhow::Result<()> {
        let ids = self
            .seed(
                stack,
                &format!("analytics-{tag}"),
                self.args.accounts,
                ALL_SCOPES,
                self.args.videos,
            )
            .await?;
        stack.analytics_ids = ids;
        Ok(())
    }

    /// `--refresh-accounts` accounts without the analytics scopes.
    async fn seed_refresh(&self, stack: &mut BenchStack) -> anyhow::Result<Vec<AccountId>> {
        self.seed(
            stack,
            "refresh",
            self.args.refresh_accounts,
            REFRESH_SCOPES,
            0,
        )
        .await
    }

    /// `count` accounts `{prefix}-{i}` with `scopes`, not due for a
    /// refresh, holding tokens the sandbox issued, each with `videos`
    /// videos there.
    async fn seed(
        &self,
        stack: &mut BenchStack,
        prefix: &str,
        count: usize,
        scopes: &str,
        videos: usize,
    ) -> anyhow::Result<Vec<AccountId>> {
        let ids: Vec<AccountId> = (0..count)
            .map(|i| AccountId::parse(format!("{prefix}-{i}")))
            .collect::<Result<_, _>>()?;
        let (store, sealer) = (&stack.store, &stack.sealer);
        stream::iter(ids.iter())
            .map(|id| async move {
                let tokens =
                    seed::sandbox_grant(&self.http, &self.sandbox.url, id.as_ref(), scopes).await?;
                seed::account(
                    store,
                    sealer,
                    id.as_ref(),
                    "bench-user",
                    scopes,
                    &tokens,
                    Freshness::Fresh,
                )
                .await?;
                if videos > 0 {
                    self.http
                        .post(format!("{}/sandbox/analytics/videos", self.sandbox.url))
                        .json(&serde_json::json!({"open_id": id.as_ref(), "count": videos}))
                        .send()
                        .await?
                        .error_for_status()?;
                }
                anyhow::Ok(())
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<Vec<()>>>()?;
        stack.indexed += ids.len();
        Ok(ids)
    }

    /// Makes every refresh account due again (its access token expiring in
    /// ten minutes; no TikTok call), then runs one sweep as token-refresh does, on a
    /// thread of its own.
    async fn sweep(&self, stack: &BenchStack, ids: &[AccountId]) -> anyhow::Result<Sweep> {
        stream::iter(ids.iter())
            .map(|id| async move {
                let mut account = stack
                    .store
                    .get_account(id)
                    .await?
                    .ok_or_else(|| anyhow!("{id} is gone"))?;
                let version = account.token_version;
                account.access_expires_at = Utc::now() + chrono::Duration::minutes(10);
                account.token_version += 1;
                stack.store.put_account(&account, Some(version)).await?;
                anyhow::Ok(())
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut env = stack.env.clone();
        env.set("AWS_ENDPOINT_URL", stack.refresh_proxy.url.clone());
        let thread = std::thread::Builder::new()
            .name("refresh-sweep".into())
            .spawn(move || -> anyhow::Result<Sweep> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let refresher = shared::startup::token_refresh(&env).await?.refresher;
                    let started = Instant::now();
                    let summary = refresher.run(Command::Sweep { dry_run: false }).await;
                    Ok(Sweep {
                        wall: started.elapsed().as_secs_f64(),
                        refreshed: summary.refreshed,
                        failed: summary.failed + summary.reauth_required,
                    })
                })
            })?;
        let sweep = join(thread).await?;
        if sweep.refreshed as usize != ids.len() {
            eprintln!(
                "  a sweep refreshed {} of {} ({} failed)",
                sweep.refreshed,
                ids.len(),
                sweep.failed
            );
        }
        Ok(sweep)
    }

    /// Runs today's snapshot on `stack` to the end.
    async fn snapshot(&self, stack: &BenchStack) -> anyhow::Result<Measured> {
        self.start_snapshot(stack)?.finish().await
    }

    /// Plans today's snapshot on `stack` and starts the workers; the run
    /// ends when every account in the stack's analytics index is resolved
    /// (taken, skipped or failed).
    fn start_snapshot(&self, stack: &BenchStack) -> anyhow::Result<Running> {
        let mut env = stack.env.clone();
        env.set("AWS_ENDPOINT_URL", stack.analytics_proxy.url.clone());
        let expected = stack.indexed as u64;
        let workers = self.args.workers;
        let proxy = stack.analytics_proxy.clone();
        let (http, sandbox_url) = (self.http.clone(), self.sandbox.url.clone());
        let done = Arc::new(AtomicBool::new(false));
        let run = Run {
            counts: Arc::default(),
            done: done.clone(),
            finished_at: Arc::default(),
            expected,
        };
        let finish = tokio::spawn(async move {
            let calls_before = sandbox_calls(&http, &sandbox_url).await?;
            proxy.reset_calls();
            // SAFETY: malloc_trim only releases free heap memory.
            unsafe { libc::malloc_trim(0) };
            let rss_before_mb = rss_kib() as f64 / 1024.0;
            reset_peak_rss();
            let started = Instant::now();
            let app = shared::startup::analytics_snapshot(&env).await?;
            let slices = app
                .snapshots
                .plan(app.shards)
                .await
                .map_err(|e| anyhow!("planning: {e:?}"))?;
            app.queue.send_all(&slices, Duration::ZERO).await?;
            let threads = (0..workers)
                .map(|i| {
                    let (env, run) = (env.clone(), run.clone());
                    std::thread::Builder::new()
                        .name(format!("analytics-worker-{i}"))
                        .spawn(move || work_on_this_thread(env, run))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for thread in threads {
                join(thread).await?;
            }
            let finished_at = run
                .finished_at
                .get()
                .copied()
                .ok_or_else(|| anyhow!("the workers stopped before the end"))?;
            let peak_rss_mb = peak_rss_kib() as f64 / 1024.0;
            let calls_after = sandbox_calls(&http, &sandbox_url).await?;
            let tiktok_calls = calls_after
                .iter()
                .map(|(path, n)| {
                    let before = calls_before.get(path).copied().unwrap_or(0);
                    (path.clone(), n.saturating_sub(before))
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            let counts = &run.counts;
            let failed =
                std::mem::take(&mut *counts.failed.lock().unwrap_or_else(|p| p.into_inner()));
            Ok(Measured {
                wall: (finished_at - started).as_secs_f64(),
                planned: slices.len(),
                slices: counts.slices.load(Ordering::Relaxed),
                taken: counts.taken.load(Ordering::Relaxed),
                already_done: counts.already_done.load(Ordering::Relaxed),
                skipped: counts.skipped.load(Ordering::Relaxed),
                failed,
                later: counts.later.load(Ordering::Relaxed),
                retried: counts.retried.load(Ordering::Relaxed),
                busy: counts.busy_micros.load(Ordering::Relaxed) as f64 / 1e6,
                aws_calls: proxy.all_calls(),
                tiktok_calls,
                peak_rss_mb,
                rss_before_mb,
            })
        });
        Ok(Running { done, finish })
    }

    /// The bytes one day's snapshot stores per account, from a sample of
    /// the stack's accounts: each item's size as DynamoDB counts it. Read by
    /// key (the videos' ids and times from the sandbox): the emulator's
    /// Query reads the whole table.
    async fn stored_sizes(&self, stack: &BenchStack) -> anyhow::Result<Sizes> {
        let table = TableName::from_env(&stack.env)?;
        let ddb = &self.clients.dynamodb;
        let day = format!("DAY#{}", Utc::now().format("%Y-%m-%d"));
        let sample = &stack.analytics_ids[..SIZE_SAMPLE.min(stack.analytics_ids.len())];
        let mut kinds: Vec<(&'static str, usize, usize)> = vec![
            ("the account's day (STATS)", 0, 0),
            ("a video's day (VSTATS)", 0, 0),
            ("a video's latest counts (VIDEOS, overwritten daily)", 0, 0),
        ];
        let mut write_units = 0;
        for id in sample {
            let at_sandbox: serde_json::Value = self
                .http
                .get(format!("{}/sandbox/analytics/{id}", self.sandbox.url))
                .send()
                .await?
                .json()
                .await?;
            let mut keys = vec![(0, format!("STATS#{id}"), day.clone())];
            for video in at_sandbox["videos"].as_array().into_iter().flatten() {
                let (Some(video_id), Some(created)) =
                    (video["id"].as_str(), video["create_time"].as_i64())
                else {
                    continue;
                };
                keys.push((1, format!("VSTATS#{id}#{video_id}"), day.clone()));
                keys.push((
                    2,
                    format!("VIDEOS#{id}"),
                    format!("VIDEO#{:013}#{video_id}", created * 1000),
                ));
            }
            for (kind, pk, sk) in keys {
                let item = ddb
                    .get_item()
                    .table_name(table.as_ref())
                    .key("pk", AttributeValue::S(pk.clone()))
                    .key("sk", AttributeValue::S(sk.clone()))
                    .send()
                    .await
                    .context("GetItem")?
                    .item
                    .ok_or_else(|| anyhow!("no item {pk} / {sk}"))?;
                let size = item_size(&item);
                kinds[kind].1 += 1;
                kinds[kind].2 += size + 100;
                write_units += size.div_ceil(1024).max(1);
            }
        }
        Ok(Sizes {
            accounts: sample.len(),
            kinds,
            write_units,
        })
    }

    fn report(&self, m: &Measured) {
        let args = &self.args;
        let accounts = args.accounts as f64;
        let tiktok = |path: &str| m.tiktok_calls.get(path).copied().unwrap_or(0);
        let tiktok_total = tiktok(USER_INFO) + tiktok(VIDEO_LIST);
        let ideal = tiktok_total as f64 * 60.0 / f64::from(args.app_rpm);
        println!(
            "  accounts                   {} taken, {} skipped, {} already done, {} failed",
            m.taken,
            m.skipped,
            m.already_done,
            m.failed.len()
        );
        for reason in m.failed.iter().take(3) {
            println!("    failed: {reason}");
        }
        println!(
            "  slices                     {} planned, {} taken by the workers \
             ({} handed back to wait for a limit, {} failed and retried)",
            m.planned, m.slices, m.later, m.retried
        );
        println!(
            "  wall time                  {:.1} s; ideal under {}/min: {:.1} s \
             ({} TikTok calls); ratio {:.2}",
            m.wall,
            args.app_rpm,
            ideal,
            tiktok_total,
            m.wall / ideal
        );
        println!(
            "  TikTok calls per account   {:.2} user info, {:.2} video list",
            tiktok(USER_INFO) as f64 / accounts,
            tiktok(VIDEO_LIST) as f64 / accounts
        );
        let total: u64 = m.aws_calls.values().sum();
        let mut ops: Vec<_> = m.aws_calls.iter().collect();
        ops.sort();
        println!(
            "  AWS calls per account      {:.2} ({})",
            total as f64 / accounts,
            ops.iter()
                .map(|(op, n)| format!("{op} {:.2}", **n as f64 / accounts))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  peak RSS                   {:.1} MB (whole process: {} workers, the proxies; \
             {:.1} MB before)",
            m.peak_rss_mb, args.workers, m.rss_before_mb
        );
    }

    fn report_sizes(&self, m: &Measured, sizes: &Sizes) {
        let per = sizes.accounts.max(1) as f64;
        let daily: usize = sizes.kinds[..2].iter().map(|k| k.2).sum();
        println!(
            "  bytes stored per account   {:.0} per day kept (STATS + VSTATS, with DynamoDB's \
             100 bytes per item), {:.0} in latest counts (overwritten)",
            daily as f64 / per,
            sizes.kinds[2].2 as f64 / per
        );
        for (kind, items, bytes) in &sizes.kinds {
            println!(
                "    {kind}: {:.1} items, {:.0} bytes",
                *items as f64 / per,
                *bytes as f64 / per
            );
        }
        println!(
            "  write units per account    {:.1} for the snapshot's items (1 per KB or part)",
            sizes.write_units as f64 / per
        );
        self.report_cost(m, sizes);
    }

    /// Cost per 1,000 accounts per month at list prices, from this run's
    /// calls and sizes: a day's run 30 times, and the storage once the
    /// retention is full.
    fn report_cost(&self, m: &Measured, sizes: &Sizes) {
        let accounts = self.args.accounts as f64;
        let per_account = |op: &str| m.aws_calls.get(op).copied().unwrap_or(0) as f64 / accounts;
        let sample = sizes.accounts.max(1) as f64;
        // Writes: the snapshot's items by their size, each rate-limit
        // decision one unit. Reads: each GetItem (strongly consistent, under
        // 4 KB) and each page of the keys-only index one unit.
        let wru = sizes.write_units as f64 / sample + per_account("DynamoDB.UpdateItem");
        let rru = per_account("DynamoDB.GetItem") + per_account("DynamoDB.Query");
        let kms = per_account("KMS.Decrypt");
        let sqs: f64 = m
            .aws_calls
            .iter()
            .filter(|(op, _)| op.contains("SQS."))
            .map(|(_, n)| *n as f64)
            .sum::<f64>()
            / accounts;
        let lambda_requests = (m.slices + 1) as f64 / accounts;
        let gb_seconds = m.busy * ANALYTICS_MEMORY_GB / accounts;
        let month = 30.0 * 1000.0;
        let dynamodb_requests =
            month * (wru * DYNAMODB_WRU_PER_MILLION_USD + rru * DYNAMODB_RRU_PER_MILLION_USD) / 1e6;
        let kms_cost = month * kms * KMS_PER_10K_REQUESTS_USD / 1e4;
        let sqs_cost = month * sqs * SQS_PER_MILLION_REQUESTS_USD / 1e6;
        let lambda_cost = month
            * (lambda_requests * LAMBDA_PER_MILLION_REQUESTS_USD / 1e6
                + gb_seconds * LAMBDA_ARM64_PER_GB_SECOND_USD);
        let retention_days = AnalyticsSettings::default().retention_days;
        let daily: usize = sizes.kinds[..2].iter().map(|k| k.2).sum();
        let kept_gb = 1000.0 * (daily as f64 * f64::from(retention_days) + sizes.kinds[2].2 as f64)
            / sample
            / 1e9;
        let storage = kept_gb * DYNAMODB_STORAGE_PER_GB_MONTH_USD;
        println!("  cost per 1,000 accounts a month (list prices, us-east-1; 30 daily runs):");
        println!(
            "    DynamoDB requests        ${dynamodb_requests:.3} ({wru:.1} write units, \
             {rru:.1} read units per account a day)"
        );
        println!(
            "    KMS                      ${kms_cost:.3} ({kms:.2} Decrypt per account a day)"
        );
        println!(
            "    SQS                      ${sqs_cost:.4} ({sqs:.2} requests per account a day)"
        );
        println!(
            "    Lambda                   ${lambda_cost:.4} ({:.2} s busy per 1,000 accounts a day \
             at {ANALYTICS_MEMORY_GB} GB)",
            m.busy / accounts * 1000.0
        );
        println!(
            "    DynamoDB storage         ${storage:.3} a month once {retention_days} days are kept \
             ({kept_gb:.2} GB; it grows by {:.2} GB a month until then)",
            1000.0 * daily as f64 * 30.0 / sample / 1e9
        );
        println!(
            "    total                    ${:.2} a month at full retention",
            dynamodb_requests + kms_cost + sqs_cost + lambda_cost + storage
        );
    }

    fn report_refresh(&self, alone: &[Sweep], beside: &[Sweep], run: &Measured) {
        let walls = |s: &[Sweep]| s.iter().map(|s| s.wall).collect::<Vec<_>>();
        let (alone_wall, beside_wall) = (median(&walls(alone)), median(&walls(beside)));
        let refreshed = |s: &[Sweep]| s.iter().map(|s| s.refreshed).min().unwrap_or(0);
        println!(
            "refresh sweeps of {} due accounts, alone and beside a second snapshot run \
             ({} accounts, {:.1} s, {} failed):",
            self.args.refresh_accounts,
            self.args.accounts,
            run.wall,
            run.failed.len()
        );
        println!(
            "  alone                      median {alone_wall:.2} s of {} sweeps ({}), \
             each refreshed at least {}",
            alone.len(),
            fmt_walls(alone),
            refreshed(alone)
        );
        println!(
            "  beside the snapshot        median {beside_wall:.2} s of {} sweeps ({}), \
             each refreshed at least {}",
            beside.len(),
            fmt_walls(beside),
            refreshed(beside)
        );
        println!(
            "  delay added                {:.2} s per sweep ({:+.0}%)",
            beside_wall - alone_wall,
            (beside_wall / alone_wall - 1.0) * 100.0
        );
    }
}

fn fmt_walls(sweeps: &[Sweep]) -> String {
    sweeps
        .iter()
        .map(|s| format!("{:.2}", s.wall))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the workers of one run share.
#[derive(Clone)]
struct Run {
    counts: Arc<Counts>,
    done: Arc<AtomicBool>,
    finished_at: Arc<OnceLock<Instant>>,
    expected: u64,
}

/// One analytics-snapshot worker, as Lambda's SQS poller hands it one
/// record at a time: takes slices from the analytics queue, works each
/// within the function's timeout, sends the rest back delayed, deletes the
/// record; until every account of the run is resolved.
fn work_on_this_thread(env: Env, run: Run) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = shared::startup::analytics_snapshot(&env).await?;
        let sqs = aws_sdk_sqs::Client::new(&aws::load(&env).await);
        let url = env
            .get("ANALYTICS_QUEUE_URL")
            .ok_or_else(|| anyhow!("ANALYTICS_QUEUE_URL"))?
            .to_owned();
        let counts = &run.counts;
        while !run.done.load(Ordering::Relaxed) {
            let received = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(1)
                // Short polls: the emulator answers one request at a time,
                // so a long poll would hold every other call back.
                .wait_time_seconds(0)
                .send()
                .await;
            let Some(message) = received
                .map_err(|e| eprintln!("  ReceiveMessage failed: {e}"))
                .ok()
                .and_then(|r| r.messages)
                .and_then(|m| m.into_iter().next())
            else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            let receipt = message.receipt_handle().unwrap_or_default().to_owned();
            let slice: SnapshotSlice = serde_json::from_str(message.body().unwrap_or_default())?;
            let started = Instant::now();
            let deadline = Deadline::at(Utc::now() + chrono::Duration::from_std(FUNCTION_TIMEOUT)?);
            let handled = async {
                let report = app
                    .snapshots
                    .work(slice, deadline)
                    .await
                    .map_err(|e| anyhow!("{e:?}"))?;
                if let Some((rest, delay)) = &report.rest {
                    app.queue
                        .send_all(std::slice::from_ref(rest), *delay)
                        .await
                        .map_err(|e| anyhow!("{e:?}"))?;
                }
                anyhow::Ok(report)
            }
            .await;
            counts
                .busy_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let report = match handled {
                Ok(report) => report,
                Err(e) => {
                    // The function reports it as a batch item failure and SQS
                    // brings the record back after the visibility timeout (30
                    // minutes); here it is made visible again at once, so the
                    // run's figures are not that wait.
                    eprintln!("  a slice failed and is retried: {e}");
                    counts.retried.fetch_add(1, Ordering::Relaxed);
                    sqs.change_message_visibility()
                        .queue_url(&url)
                        .receipt_handle(&receipt)
                        .visibility_timeout(0)
                        .send()
                        .await?;
                    continue;
                }
            };
            if report.rest.is_some() {
                counts.later.fetch_add(1, Ordering::Relaxed);
            }
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(&receipt)
                .send()
                .await?;
            counts.slices.fetch_add(1, Ordering::Relaxed);
            counts
                .taken
                .fetch_add(report.taken as u64, Ordering::Relaxed);
            counts
                .already_done
                .fetch_add(report.already_done as u64, Ordering::Relaxed);
            counts
                .skipped
                .fetch_add(report.skipped.len() as u64, Ordering::Relaxed);
            counts
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(report.failed.iter().map(|(id, why)| format!("{id}: {why}")));
            // Already done: an account taken earlier in this run, met again
            // where a handed-back slice resumes.
            let resolved = report.taken + report.skipped.len() + report.failed.len();
            let total = counts
                .resolved
                .fetch_add(resolved as u64, Ordering::Relaxed)
                + resolved as u64;
            if total >= run.expected {
                let _ = run.finished_at.set(Instant::now());
                run.done.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    })
}

async fn join<T: Send + 'static>(thread: JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(move || thread.join())
        .await?
        .map_err(|_| anyhow!("a thread panicked"))?
}

async fn sandbox_calls(
    http: &reqwest::Client,
    sandbox_url: &str,
) -> anyhow::Result<HashMap<String, u64>> {
    Ok(http
        .get(format!("{sandbox_url}/sandbox/calls"))
        .send()
        .await?
        .json()
        .await?)
}

/// An item's size as DynamoDB counts it: each attribute's name and value
/// (strings and binaries by their bytes, numbers about one byte per two
/// digits plus one, containers 3 bytes plus one per element and their
/// contents).
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits = n.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}
