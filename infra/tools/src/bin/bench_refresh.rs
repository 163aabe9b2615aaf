//! Benchmark of the token-refresh sweep against the local emulator and the
//! TikTok sandbox (run as its own process, with per-call latency).
//!
//!     infra/bench/refresh.sh [--accounts 10000] [--latency-ms 100]
//!         [--concurrency 32] [--sequential-sample 200] [--runs 1]
//!         [--workers 4] [--log-file PATH] [--profile]
//!
//! Prints the sweep's wall time and refreshes per second, the ideal
//! (N × latency / concurrency), AWS calls per refreshed account, the peak
//! RSS during the sweep, and the same accounts refreshed one at a time.
//! Then, with `--workers N` (0: none), the fan-out over as many new
//! accounts: token-refresh plans slices onto the refresh queue (SQS on the
//! emulator), and N refresh-workers, each on a thread of its own as each
//! would be a Lambda of its own, take them from the queue as the SQS event
//! source does; the same figures, beside the sweep's.
//!
//! The refresh's own CPU: the refresher is built and run on a thread of its
//! own with a current-thread runtime (a Lambda has a fraction of one core),
//! and that thread's CPU time (user and system) is read before and after,
//! so neither the seeding, the counting proxy nor the emulators are
//! counted. The logs are those of the function: the Lambda runtime's
//! subscriber, JSON, INFO, written line by line to a file, so formatting and
//! writing them is counted. `--profile` samples the sweep (pprof, SIGPROF)
//! and prints where that thread's time went.

use std::{
    collections::{HashMap, HashSet},
    io::Write,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use futures::{StreamExt, stream};
use shared::{
    adapters::{
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
    },
    domain::{ids::AccountId, schedule::Slice},
    env::Env,
    service::refresh::{Command, Outcome, PlanSummary, RefreshSettings, Summary},
    support::deadline::Deadline,
};
use tools::{
    aws_endpoint,
    aws_proxy::AwsProxy,
    bench::{peak_rss_kib, reset_peak_rss, rss_kib},
    seed::{self, Freshness},
};

/// The name of the thread the refresh runs on (what the profile keeps).
const SWEEP_THREAD: &str = "refresh-sweep";
/// Samples per second of CPU time when profiling.
const PROFILE_HZ: i32 = 997;

struct Args {
    accounts: usize,
    latency_ms: u64,
    concurrency: usize,
    sequential_sample: usize,
    runs: usize,
    workers: usize,
    log_file: PathBuf,
    profile: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        accounts: 10_000,
        latency_ms: 100,
        concurrency: RefreshSettings::default().concurrency,
        sequential_sample: 200,
        runs: 1,
        workers: 4,
        log_file: std::env::temp_dir().join("bench-refresh.log"),
        profile: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--profile" {
            args.profile = true;
            continue;
        }
        let value = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        if flag == "--log-file" {
            args.log_file = value.into();
            continue;
        }
        let number: usize = value
            .parse()
            .with_context(|| format!("{flag} takes a number"))?;
        match flag.as_str() {
            "--accounts" => args.accounts = number,
            "--latency-ms" => args.latency_ms = number as u64,
            "--concurrency" => args.concurrency = number,
            "--sequential-sample" => args.sequential_sample = number,
            "--runs" => args.runs = number.max(1),
            "--workers" => args.workers = number,
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Lines and bytes of log written, across threads.
#[derive(Clone, Default)]
struct LogCount {
    lines: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl LogCount {
    fn take(&self) -> (u64, u64) {
        (
            self.lines.swap(0, Ordering::Relaxed),
            self.bytes.swap(0, Ordering::Relaxed),
        )
    }
}

/// The log file, unbuffered as stdout is in Lambda (one write per line),
/// counting what goes through.
struct CountingWriter {
    file: std::fs::File,
    count: LogCount,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        let lines = buf[..n].iter().filter(|b| **b == b'\n').count();
        self.count.lines.fetch_add(lines as u64, Ordering::Relaxed);
        self.count.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// CPU time (user and system) the whole process has used, all threads.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time (user and system) the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    // The logs as Lambda writes them with JSON logging: the runtime's own
    // subscriber, JSON, INFO (what `AWS_LAMBDA_LOG_LEVEL` defaults to).
    // SAFETY: no other thread exists yet; nothing reads the environment
    // concurrently.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
        std::env::remove_var("AWS_LAMBDA_LOG_LEVEL");
        std::env::remove_var("RUST_LOG");
    }
    let args = args()?;
    let count = LogCount::default();
    let file = std::fs::File::create(&args.log_file)
        .with_context(|| format!("creating {}", args.log_file.display()))?;
    shared::support::telemetry::init_with_writer(CountingWriter {
        file,
        count: count.clone(),
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, count))
}

/// What one sweep measured, on the sweep's own thread.
struct Measured {
    summary: Summary,
    wall: f64,
    cpu: Duration,
    process_cpu: Duration,
    peak_kib: u64,
    rss_before_kib: u64,
    log_lines: u64,
    log_bytes: u64,
    sequential: usize,
    sequential_ok: usize,
    sequential_wall: f64,
    sequential_cpu: Duration,
    profile: Option<String>,
}

async fn run(args: Args, count: LogCount) -> anyhow::Result<()> {
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

    let store = Store::new(clients.dynamodb.clone(), &TableName::from_env(&env)?);
    let sealer = KmsSealer::new(clients.kms.clone(), KeyId::from_env(&env)?);
    let mut cpu_per_refreshed = Vec::new();
    // With --profile, one more run, sampled, after the measured ones: the
    // profiler's own memory and signals stay out of their figures.
    let total_runs = args.runs + usize::from(args.profile);
    for run in 1..=total_runs {
        let profile = run > args.runs;
        // Seed: N connected accounts, all due, new ones for each run.
        let ids = seed_due(
            &args,
            &format!("bench-{run}"),
            &http,
            &sandbox.url,
            &store,
            &sealer,
        )
        .await?;
        http.post(format!("{}/sandbox/latency", sandbox.url))
            .json(&serde_json::json!({"ms": args.latency_ms}))
            .send()
            .await?;
        proxy.reset_calls();
        let sample = args.sequential_sample.min(ids.len());
        let thread = {
            let (env, ids, count) = (env.clone(), ids[..sample].to_vec(), count.clone());
            std::thread::Builder::new()
                .name(SWEEP_THREAD.into())
                .spawn(move || sweep_on_this_thread(env, ids, count, profile))?
        };
        let measured = tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow!("the sweep thread panicked"))??;
        let calls = proxy.all_calls();
        let stats: serde_json::Value = http
            .get(format!("{}/sandbox/stats", sandbox.url))
            .send()
            .await?
            .json()
            .await?;
        if !profile {
            let cpu_ms =
                measured.cpu.as_secs_f64() * 1000.0 / measured.summary.refreshed.max(1) as f64;
            cpu_per_refreshed.push(cpu_ms);
        }
        print_run(&args, run, &measured, &calls, &stats);
    }
    if args.workers > 0 {
        seed_due(&args, "fanout", &http, &sandbox.url, &store, &sealer).await?;
        http.post(format!("{}/sandbox/latency", sandbox.url))
            .json(&serde_json::json!({"ms": args.latency_ms}))
            .send()
            .await?;
        proxy.reset_calls();
        let measured = fanout(&env, args.workers, &count).await?;
        let calls = proxy.all_calls();
        print_fanout(&args, &measured, &calls);
    }
    if args.runs > 1 {
        let all = cpu_per_refreshed
            .iter()
            .map(|v| format!("{v:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "CPU per refreshed account, median of {} runs: {:.2} ms ({all})",
            args.runs,
            median(&mut cpu_per_refreshed)
        );
    }
    Ok(())
}

/// Seeds `args.accounts` connected accounts `{prefix}-{i}`, all due, whose
/// tokens the sandbox issued (at no latency).
async fn seed_due(
    args: &Args,
    prefix: &str,
    http: &reqwest::Client,
    sandbox_url: &str,
    store: &Store,
    sealer: &KmsSealer,
) -> anyhow::Result<Vec<AccountId>> {
    let scopes = "user.info.basic,video.upload";
    let ids: Vec<AccountId> = (0..args.accounts)
        .map(|i| AccountId::parse(format!("{prefix}-{i}")))
        .collect::<Result<_, _>>()?;
    http.post(format!("{sandbox_url}/sandbox/latency"))
        .json(&serde_json::json!({"ms": 0}))
        .send()
        .await?;
    let started = Instant::now();
    let seeded = stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let tokens = seed::sandbox_grant(http, sandbox_url, id.as_ref(), scopes).await?;
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
    Ok(ids)
}

/// What the fan-out measured: the plan, and the workers' sums.
struct FannedOut {
    plan: PlanSummary,
    refreshed: u64,
    failed: u64,
    slices: u64,
    wall: f64,
    cpu: Duration,
    peak_kib: u64,
}

/// Plans as the schedule's invocation does, then runs `workers`
/// refresh-workers at once, each built as the function is at cold start on
/// a thread of its own, taking slices from the refresh queue until it is
/// empty.
async fn fanout(env: &Env, workers: usize, count: &LogCount) -> anyhow::Result<FannedOut> {
    let mut env = env.clone();
    env.set("REFRESH_MODE", "fanout");
    let planner = shared::startup::token_refresh(&env).await?;
    let queue = planner
        .plans_to
        .as_ref()
        .ok_or_else(|| anyhow!("fanout without a queue"))?;
    reset_peak_rss();
    count.take();
    let started = Instant::now();
    let plan = planner.refresher.plan(queue).await?;
    let threads = (0..workers)
        .map(|i| {
            let env = env.clone();
            std::thread::Builder::new()
                .name(format!("refresh-worker-{i}"))
                .spawn(move || work_on_this_thread(env))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut fanned = FannedOut {
        plan,
        refreshed: 0,
        failed: 0,
        slices: 0,
        wall: 0.0,
        cpu: Duration::ZERO,
        peak_kib: 0,
    };
    for thread in threads {
        let (refreshed, failed, slices, cpu) = tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow!("a worker thread panicked"))??;
        fanned.refreshed += refreshed;
        fanned.failed += failed;
        fanned.slices += slices;
        fanned.cpu += cpu;
    }
    fanned.wall = started.elapsed().as_secs_f64();
    fanned.peak_kib = peak_rss_kib();
    Ok(fanned)
}

/// One refresh-worker: takes slices from the refresh queue (as the SQS
/// event source would hand them over) until it is empty. Answers what it
/// refreshed and failed, the slices it took, and its thread's CPU.
fn work_on_this_thread(env: Env) -> anyhow::Result<(u64, u64, u64, Duration)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let worker = shared::startup::refresh_worker(&env).await?;
        let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws::load(&env).await);
        let url = env
            .get("REFRESH_QUEUE_URL")
            .ok_or_else(|| anyhow!("REFRESH_QUEUE_URL"))?
            .to_owned();
        let cpu_before = thread_cpu();
        let (mut refreshed, mut failed, mut slices) = (0, 0, 0);
        loop {
            let messages = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(1)
                .send()
                .await?
                .messages
                .unwrap_or_default();
            let Some(message) = messages.into_iter().next() else {
                break;
            };
            let slice: Slice = serde_json::from_str(message.body().unwrap_or_default())?;
            let done = worker
                .refresher
                .work(slice, Deadline::NONE, &worker.queue)
                .await?;
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await?;
            refreshed += done.summary.refreshed;
            failed += done.summary.failed;
            slices += 1;
        }
        Ok((
            refreshed,
            failed,
            slices,
            thread_cpu().saturating_sub(cpu_before),
        ))
    })
}

fn print_fanout(args: &Args, m: &FannedOut, calls: &HashMap<String, u64>) {
    let refreshed = m.refreshed.max(1) as f64;
    println!(
        "token-refresh fan-out benchmark: a plan, then {} refresh-workers",
        args.workers
    );
    println!("  accounts due               {}", args.accounts);
    println!(
        "  plan                       {} slices, {} due{}",
        m.plan.planned,
        m.plan.due,
        match m.plan.errors.first() {
            Some(first) => format!(
                " ({} shards not counted, each planned anyway: {})",
                m.plan.errors.len(),
                first.error
            ),
            None => String::new(),
        }
    );
    println!(
        "  workers                    {} slices taken, refreshed {} failed {}",
        m.slices, m.refreshed, m.failed
    );
    println!("  wall time (plan and work)  {:.2} s", m.wall);
    println!(
        "  refreshes per second       {:.1}",
        m.refreshed as f64 / m.wall
    );
    println!(
        "  refresh CPU (workers)      {:.2} ms per refreshed account",
        m.cpu.as_secs_f64() * 1000.0 / refreshed
    );
    print_calls(calls, refreshed, m.wall);
    println!(
        "  peak RSS                   {:.1} MB (whole process: {} workers, the proxy)",
        m.peak_kib as f64 / 1024.0,
        args.workers
    );
}

/// The AWS calls a run made, per refreshed account and per second of it.
fn print_calls(calls: &HashMap<String, u64>, refreshed: f64, wall: f64) {
    let total: u64 = calls.values().sum();
    let mut ops: Vec<_> = calls.iter().collect();
    ops.sort();
    println!(
        "  AWS calls per refreshed    {:.3} ({total} calls: {})",
        total as f64 / refreshed,
        ops.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  AWS calls per second       {:.0} (the emulator's throughput)",
        total as f64 / wall
    );
}

/// Builds the refresher as the function does at cold start, then runs one
/// sweep and the sequential loop, all on this thread, and measures them.
fn sweep_on_this_thread(
    env: Env,
    sample: Vec<AccountId>,
    count: LogCount,
    profile: bool,
) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let refresher = shared::startup::token_refresh(&env).await?.refresher;
        let profiler = if profile {
            Some(
                pprof::ProfilerGuardBuilder::default()
                    .frequency(PROFILE_HZ)
                    .blocklist(&["libgcc", "vdso"])
                    .build()?,
            )
        } else {
            None
        };
        let rss_before_kib = rss_kib();
        reset_peak_rss();
        count.take();
        let started = Instant::now();
        let (cpu_before, process_before) = (thread_cpu(), process_cpu());
        let summary = refresher.run(Command::Sweep { dry_run: false }).await;
        let cpu = thread_cpu().saturating_sub(cpu_before);
        let process_cpu = process_cpu().saturating_sub(process_before);
        let wall = started.elapsed().as_secs_f64();
        let peak_kib = peak_rss_kib();
        let (log_lines, log_bytes) = count.take();
        let profile = match profiler {
            Some(guard) => {
                let report = guard.report().build()?;
                drop(guard);
                Some(profile_text(&report))
            }
            None => None,
        };

        // The same accounts, one at a time, as the old design did.
        let started = Instant::now();
        let cpu_before = thread_cpu();
        let mut sequential_ok = 0;
        for id in &sample {
            if refresher.refresh_now(id).await == Outcome::Refreshed {
                sequential_ok += 1;
            }
        }
        let sequential_cpu = thread_cpu().saturating_sub(cpu_before);
        Ok(Measured {
            summary,
            wall,
            cpu,
            process_cpu,
            peak_kib,
            rss_before_kib,
            log_lines,
            log_bytes,
            sequential: sample.len(),
            sequential_ok,
            sequential_wall: started.elapsed().as_secs_f64(),
            sequential_cpu,
            profile,
        })
    })
}

fn print_run(
    args: &Args,
    run: usize,
    m: &Measured,
    calls: &HashMap<String, u64>,
    stats: &serde_json::Value,
) {
    let summary = &m.summary;
    let refreshed = summary.refreshed.max(1) as f64;
    let ideal = args.accounts as f64 * args.latency_ms as f64 / 1000.0 / args.concurrency as f64;
    let cpu_ms = m.cpu.as_secs_f64() * 1000.0;
    let per_account = m.sequential_wall / m.sequential.max(1) as f64;
    let sequential = per_account * args.accounts as f64;
    if m.profile.is_some() {
        println!(
            "token-refresh sweep benchmark, profiled run (the profiler's cost and memory included)"
        );
    } else {
        println!("token-refresh sweep benchmark, run {run} of {}", args.runs);
    }
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
    println!("  wall time                  {:.2} s", m.wall);
    println!(
        "  refreshes per second       {:.1}",
        summary.refreshed as f64 / m.wall
    );
    println!("  ideal (N x latency / conc) {ideal:.2} s");
    println!(
        "  refresh CPU (own thread)   {cpu_ms:.0} ms: {:.2} ms per refreshed account, {:.0}% of one core",
        cpu_ms / refreshed,
        cpu_ms / 10.0 / m.wall
    );
    println!(
        "  whole process CPU          {:.2} ms per refreshed account (the counting proxy included)",
        m.process_cpu.as_secs_f64() * 1000.0 / refreshed
    );
    println!(
        "  logs (JSON, INFO)          {:.1} lines, {:.0} bytes per refreshed account",
        m.log_lines as f64 / refreshed,
        m.log_bytes as f64 / refreshed
    );
    print_calls(calls, refreshed, m.wall);
    println!(
        "  peak RSS during the sweep  {:.1} MB (whole process, proxy included; {:.1} MB before)",
        m.peak_kib as f64 / 1024.0,
        m.rss_before_kib as f64 / 1024.0
    );
    println!(
        "  sequential loop            {:.1} ms per account over {} accounts ({} refreshed), {:.2} ms CPU each; {:.1} s for all {}{}",
        per_account * 1000.0,
        m.sequential,
        m.sequential_ok,
        m.sequential_cpu.as_secs_f64() * 1000.0 / m.sequential_ok.max(1) as f64,
        sequential,
        args.accounts,
        if m.sequential < args.accounts {
            " (extrapolated)"
        } else {
            ""
        }
    );
    println!("  speed-up over sequential   {:.1}x", sequential / m.wall);
    if let Some(profile) = &m.profile {
        print!("{profile}");
    }
}

/// The buckets of the profile, by the crate (or C symbol) a frame is in;
/// the first that matches wins. Frames of no bucket (`core`, `std`,
/// `alloc` helpers, closures) count towards the nearest caller that has
/// one.
const BUCKETS: &[(&str, &[&str])] = &[
    ("sigv4 signing", &["aws_sigv4"]),
    (
        "sha2/hmac",
        &[
            "sha2",
            "hmac",
            "digest",
            "block_buffer",
            "crypto_common",
            "ring",
            "aws_lc",
        ],
    ),
    (
        "JSON (serde_json)",
        &["serde_json", "aws_smithy_json", "serde", "ryu", "itoa"],
    ),
    (
        "tracing/log formatting",
        &[
            "tracing",
            "tracing_core",
            "tracing_subscriber",
            "tracing_serde",
            "sharded_slab",
        ],
    ),
    ("core::fmt", &["core::fmt", "alloc::fmt", "<alloc::string"]),
    (
        "hyper/http",
        &[
            "hyper",
            "hyper_util",
            "http",
            "http_body",
            "http_body_util",
            "httparse",
            "h2",
            "reqwest",
            "aws_smithy_http_client",
            "tower",
            "want",
        ],
    ),
    ("KMS SDK", &["aws_sdk_kms"]),
    ("DynamoDB SDK", &["aws_sdk_dynamodb"]),
    (
        "AWS SDK runtime",
        &[
            "aws_smithy_runtime",
            "aws_smithy_runtime_api",
            "aws_smithy_types",
            "aws_smithy_http",
            "aws_smithy_async",
            "aws_smithy_observability",
            "aws_smithy_schema",
            "aws_runtime",
            "aws_types",
            "aws_credential_types",
            "aws_config",
        ],
    ),
    (
        "allocation",
        &[
            "malloc",
            "free",
            "cfree",
            "realloc",
            "calloc",
            "_int_malloc",
            "_int_free",
            "_int_realloc",
            "malloc_consolidate",
            "unlink_chunk",
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rdl_alloc",
            "__rdl_dealloc",
            "__rdl_realloc",
            "alloc::alloc",
            "alloc::raw_vec",
            "core::ptr::drop_in_place",
            "<alloc::raw_vec",
        ],
    ),
    (
        "memcpy/memcmp",
        &["__mem", "mem", "bcmp", "__nss", "__strlen"],
    ),
    (
        "tokio/futures",
        &["tokio", "mio", "futures_util", "futures_core", "futures"],
    ),
    (
        "syscalls",
        &[
            "__libc",
            "__GI",
            "send",
            "__send",
            "recv",
            "__recv",
            "write",
            "__write",
            "read",
            "__read",
            "epoll_wait",
            "syscall",
            "clock_gettime",
            "__clock_gettime",
            "sendto",
            "recvfrom",
            "writev",
        ],
    ),
    (
        "url",
        &["url", "idna", "form_urlencoded", "percent_encoding"],
    ),
    ("chrono/time", &["chrono", "time"]),
    (
        "hashing (HashMap)",
        &["hashbrown", "std::hash", "core::hash"],
    ),
    ("our code (shared)", &["shared"]),
];

/// A demangled name without its hash suffix (`::h0123456789abcdef`).
fn clean(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// The bucket of a function, by its path (for `<T as Trait>::f`, `T`'s).
fn bucket(name: &str) -> Option<&'static str> {
    let path = name.trim_start_matches('<').trim_start_matches('&');
    let path = path.trim_start_matches("mut ").trim_start_matches("dyn ");
    let head = path.split("::").next().unwrap_or(path);
    BUCKETS.iter().find_map(|(bucket, prefixes)| {
        prefixes
            .iter()
            .any(|p| {
                if p.contains("::") || p.starts_with('<') || p.starts_with('_') {
                    name.starts_with(p) || path.starts_with(p.trim_start_matches('<'))
                } else if *p == "mem" {
                    head.starts_with("mem")
                } else {
                    head == *p
                }
            })
            .then_some(*bucket)
    })
}

/// The sweep thread's samples: per sample, its stack from the interrupted
/// function out, without the profiler's own frames.
fn stacks(report: &pprof::Report) -> Vec<(Vec<String>, usize)> {
    report
        .data
        .iter()
        .filter(|(frames, _)| frames.thread_name == SWEEP_THREAD)
        .map(|(frames, count)| {
            let names: Vec<String> = frames
                .frames
                .iter()
                .flat_map(|inlined| inlined.iter().map(|s| clean(&s.name()).to_owned()))
                .collect();
            // Frames up to the signal trampoline are the profiler's.
            let start = names
                .iter()
                .rposition(|n| n.contains("__restore_rt") || n.contains("perf_signal_handler"))
                .map(|i| i + 1)
                .unwrap_or(0);
            let names = names[start..].to_vec();
            (names, (*count).max(0) as usize)
        })
        .collect()
}

/// Entries by count, largest first.
fn sorted(map: HashMap<&str, usize>) -> Vec<(&str, usize)> {
    let mut v: Vec<(&str, usize)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

fn profile_text(report: &pprof::Report) -> String {
    let stacks = stacks(report);
    let total: usize = stacks.iter().map(|(_, n)| n).sum();
    let mut out = String::new();
    let pct = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
    out.push_str(&format!(
        "profile of the sweep thread: {total} samples (SIGPROF, asked at {PROFILE_HZ} Hz of process CPU)\n"
    ));
    if total == 0 {
        return out;
    }
    let mut inclusive: HashMap<&str, usize> = HashMap::new();
    let mut own: HashMap<&str, usize> = HashMap::new();
    let mut bucket_own: HashMap<&str, usize> = HashMap::new();
    let mut bucket_incl: HashMap<&str, usize> = HashMap::new();
    for (names, n) in &stacks {
        let unique: HashSet<&str> = names.iter().map(String::as_str).collect();
        for name in unique {
            *inclusive.entry(name).or_default() += n;
        }
        if let Some(leaf) = names.first() {
            *own.entry(leaf.as_str()).or_default() += n;
        }
        let first = names
            .iter()
            .find_map(|name| bucket(name))
            .unwrap_or("other");
        *bucket_own.entry(first).or_default() += n;
        let buckets: HashSet<&str> = names.iter().filter_map(|name| bucket(name)).collect();
        for b in buckets {
            *bucket_incl.entry(b).or_default() += n;
        }
    }
    let short = |name: &str| -> String {
        if name.chars().count() > 120 {
            format!("{}…", name.chars().take(119).collect::<String>())
        } else {
            name.to_owned()
        }
    };
    out.push_str("  buckets (a sample goes to the innermost frame with a bucket; [inclusive]):\n");
    for (b, n) in sorted(bucket_own) {
        let incl = bucket_incl.get(b).copied().unwrap_or(n);
        out.push_str(&format!("    {:5.1}%  [{:5.1}%]  {b}\n", pct(n), pct(incl)));
    }
    out.push_str("  top functions by inclusive share (self in brackets):\n");
    for (name, n) in sorted(inclusive).into_iter().take(25) {
        let own_n = own.get(name).copied().unwrap_or(0);
        out.push_str(&format!(
            "    {:5.1}%  [{:5.1}%]  {}\n",
            pct(n),
            pct(own_n),
            short(name)
        ));
    }
    out.push_str("  top functions by self share:\n");
    for (name, n) in sorted(own).into_iter().take(25) {
        out.push_str(&format!("    {:5.1}%  {}\n", pct(n), short(name)));
    }
    out
}
