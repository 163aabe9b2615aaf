//! A simulation of token refresh by fan-out at scale: the real planner
//! (`Refresher::plan`) and worker (`Refresher::work`) run on the in-memory
//! stand-ins of the store, KMS, TikTok and the queue, in virtual time
//! (tokio's paused clock, with the refresher's clock reading the same
//! time), so hours of refreshing a million accounts run in minutes.
//!
//! The schedule plans every `SWEEP_INTERVAL`; up to `max_workers` worker
//! instances (the queue's event source MaximumConcurrency) take one slice
//! at a time, each instance warm across slices with its own back-pressure
//! and its own CPU share. Every AWS and TikTok call takes its latency.

pub mod model;
pub mod report;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, anyhow};
use chrono::{DateTime, TimeZone, Utc};
use shared::{
    adapters::memory::{MemoryQueue, MemorySealer, MemoryStore, MemoryTikTok},
    domain::{
        account::{Account, AccountStatus, Profile, Scopes},
        ids::UserId,
        ports::{AccountStore, RefreshQueue, TokenSealer},
        schedule::{self, DueShards, SWEEP_INTERVAL},
    },
    service::refresh::{Command, RefreshBudget, RefreshSettings, Refresher},
    support::{clock::Clock, deadline::Deadline},
};

use model::{
    AwsLatency, Calls, Cpu, Faults, Latency, Lifetimes, Measure, OutageKind, Rng, SimQueue,
    SimSealer, SimStore, SimTikTok, World, account_id, millis,
};

/// A scenario: the accounts, the deployment, and how TikTok behaves.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub accounts: usize,
    pub shards: u32,
    /// Worker instances at most at once (the event source's
    /// MaximumConcurrency).
    pub max_workers: usize,
    /// Simulated time in all, warm-up included.
    pub hours: f64,
    /// Not measured: the schedule settles into its rhythm.
    pub warmup_hours: f64,
    pub access_hours: f64,
    /// Share of accounts whose access tokens live 24 hours.
    pub mix_24h: f64,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub rate_429: f64,
    pub rate_5xx: f64,
    pub outage_hours: f64,
    /// When the outage starts, from the start (default: after warm-up).
    pub outage_at_hours: Option<f64>,
    pub outage_kind: OutageKind,
    pub tiktok_timeout_s: f64,
    pub aws_timeout_s: f64,
    pub worker_timeout_s: f64,
    /// CPU time of one refresh on a whole vCPU.
    pub cpu_ms: f64,
    /// A worker instance's share of a vCPU (Lambda: memory / 1769 MB).
    pub vcpu: f64,
    pub memory_mb: f64,
    /// Refreshes at once per worker instance (`REFRESH_CONCURRENCY`).
    pub concurrency: usize,
    pub dynamodb_ms: f64,
    pub kms_ms: f64,
    pub sqs_ms: f64,
    pub seed: u64,
    /// Accounts refreshed one at a time for the sequential comparison
    /// (0: none).
    pub sequential_sample: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: "fanout".into(),
            accounts: 10_000,
            shards: 16,
            max_workers: 4,
            hours: 6.0,
            warmup_hours: 2.0,
            access_hours: 2.0,
            mix_24h: 0.0,
            median_ms: 150.0,
            p99_ms: 800.0,
            rate_429: 0.0,
            rate_5xx: 0.0,
            outage_hours: 0.0,
            outage_at_hours: None,
            outage_kind: OutageKind::ServerError,
            tiktok_timeout_s: 10.0,
            aws_timeout_s: 2.0,
            worker_timeout_s: 900.0,
            cpu_ms: 2.0,
            vcpu: 0.15625,
            memory_mb: 256.0,
            concurrency: RefreshSettings::default().concurrency,
            dynamodb_ms: 5.0,
            kms_ms: 8.0,
            sqs_ms: 10.0,
            seed: 1,
            sequential_sample: 2_000,
        }
    }
}

impl Config {
    /// Sets `flag` (without its dashes) to `value`.
    pub fn set(&mut self, flag: &str, value: &str) -> anyhow::Result<()> {
        fn num<T: std::str::FromStr>(flag: &str, value: &str) -> anyhow::Result<T> {
            value
                .parse()
                .map_err(|_| anyhow!("--{flag} takes a number, not {value:?}"))
        }
        match flag {
            "name" => self.name = value.to_owned(),
            "accounts" => self.accounts = num(flag, value)?,
            "shards" => self.shards = num(flag, value)?,
            "max-workers" => self.max_workers = num(flag, value)?,
            "hours" => self.hours = num(flag, value)?,
            "warmup-hours" => self.warmup_hours = num(flag, value)?,
            "access-hours" => self.access_hours = num(flag, value)?,
            "mix-24h" => self.mix_24h = num(flag, value)?,
            "median-ms" => self.median_ms = num(flag, value)?,
            "p99-ms" => self.p99_ms = num(flag, value)?,
            "rate-429" => self.rate_429 = num(flag, value)?,
            "rate-5xx" => self.rate_5xx = num(flag, value)?,
            "outage-hours" => self.outage_hours = num(flag, value)?,
            "outage-at-hours" => self.outage_at_hours = Some(num(flag, value)?),
            "outage-kind" => {
                self.outage_kind = match value {
                    "5xx" => OutageKind::ServerError,
                    "timeout" => OutageKind::Timeout,
                    _ => return Err(anyhow!("--outage-kind is 5xx or timeout")),
                }
            }
            "tiktok-timeout-s" => self.tiktok_timeout_s = num(flag, value)?,
            "aws-timeout-s" => self.aws_timeout_s = num(flag, value)?,
            "worker-timeout-s" => self.worker_timeout_s = num(flag, value)?,
            "cpu-ms" => self.cpu_ms = num(flag, value)?,
            "vcpu" => self.vcpu = num(flag, value)?,
            "memory-mb" => self.memory_mb = num(flag, value)?,
            "concurrency" => self.concurrency = num(flag, value)?,
            "dynamodb-ms" => self.dynamodb_ms = num(flag, value)?,
            "kms-ms" => self.kms_ms = num(flag, value)?,
            "sqs-ms" => self.sqs_ms = num(flag, value)?,
            "seed" => self.seed = num(flag, value)?,
            "sequential-sample" => self.sequential_sample = num(flag, value)?,
            _ => return Err(anyhow!("unknown flag --{flag}")),
        }
        Ok(())
    }

    fn check(&self) -> anyhow::Result<()> {
        DueShards::new(self.shards).ok_or_else(|| anyhow!("--shards is 1-1024"))?;
        let sane = self.accounts > 0
            && self.max_workers > 0
            && (1..=256).contains(&self.concurrency)
            && self.hours > self.warmup_hours
            && self.warmup_hours >= 0.0
            && self.access_hours > 0.0
            && (0.0..=1.0).contains(&self.mix_24h)
            && self.median_ms > 0.0
            && self.rate_429 >= 0.0
            && self.rate_5xx >= 0.0
            && self.rate_429 + self.rate_5xx <= 1.0
            && self.outage_hours >= 0.0
            && self.tiktok_timeout_s > 0.0
            && self.aws_timeout_s > 0.0
            && self.worker_timeout_s > 0.0
            && self.vcpu > 0.0;
        if sane {
            Ok(())
        } else {
            Err(anyhow!("a flag is out of range: {self:?}"))
        }
    }

    pub fn outage(&self, start: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        (self.outage_hours > 0.0).then(|| {
            let from = start + hours(self.outage_at_hours.unwrap_or(self.warmup_hours));
            (from, from + hours(self.outage_hours))
        })
    }
}

pub fn hours(h: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((h * 3_600_000.0).round() as i64)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Where virtual time starts.
fn epoch() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0)
        .single()
        .expect("a fixed, valid instant")
}

type SimRefresher = Refresher<SimStore, SimSealer, SimTikTok>;

/// What the worker instances did.
#[derive(Default, Debug, Clone)]
pub struct Tally {
    pub invocations: u64,
    pub busy_ms: i64,
    pub busy_now: usize,
    pub peak_busy: usize,
    pub min_limit: usize,
    /// Sum and count of the in-flight limits of busy instances, sampled
    /// each second.
    pub limit_sum: u64,
    pub limit_samples: u64,
    pub continued: u64,
    pub work_errors: u64,
    pub due: u64,
    pub refreshed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub reauth_required: u64,
    pub left: u64,
    pub planner_invocations: u64,
    pub planner_ms: i64,
    pub plan_errors: u64,
    pub slices_planned: u64,
}

/// What a fan-out run measured.
pub struct Fanout {
    pub world: Arc<World>,
    pub tally: Tally,
    pub start: DateTime<Utc>,
    pub measured_s: f64,
    pub rotations: u64,
    pub slices_sent: u64,
    pub outage: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Most accounts expired at once (sampled each minute, after warm-up).
    pub peak_expired: u64,
    /// From the outage's end until no account was expired, in minutes.
    pub recovery_min: Option<f64>,
    pub expired_at_end: u64,
}

/// The sequential design: one refresh at a time in one invocation.
pub struct Sequential {
    pub refreshed: u64,
    pub elapsed_s: f64,
}

impl Sequential {
    pub fn rate(&self) -> f64 {
        self.refreshed as f64 / self.elapsed_s.max(1e-9)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("tokio runtime")
}

/// Runs a scenario, then the sequential comparison.
pub fn run(cfg: &Config) -> anyhow::Result<(Fanout, Option<Sequential>)> {
    cfg.check()?;
    let fanout = runtime()?.block_on(fanout(cfg))?;
    let sequential = if cfg.sequential_sample > 0 {
        Some(runtime()?.block_on(sequential(cfg))?)
    } else {
        None
    };
    Ok((fanout, sequential))
}

/// A world at `start` (virtual time begins now) for `accounts` accounts.
fn world(cfg: &Config, accounts: usize, start: DateTime<Utc>, with_outage: bool) -> Arc<World> {
    let base = tokio::time::Instant::now();
    let clock = Clock::from_fn(move || {
        start + chrono::Duration::from_std(base.elapsed()).expect("virtual time stays in range")
    });
    let outage = cfg.outage(start).filter(|_| with_outage);
    let from = start + hours(cfg.warmup_hours);
    let window = outage.map(|(s, e)| (millis(s), millis(e + SWEEP_INTERVAL * 2)));
    let shards = DueShards::new(cfg.shards).expect("checked in Config::check");
    Arc::new(World {
        store: MemoryStore::with_due_shards(shards),
        tiktok: MemoryTikTok::new(hours(cfg.access_hours), chrono::Duration::days(180)),
        queue: MemoryQueue::new(),
        sent: tokio::sync::Notify::new(),
        calls: Calls::default(),
        measure: Mutex::new(Measure::new(accounts, millis(start), millis(from), window)),
        clock,
        rng: Rng::new(cfg.seed),
        latency: Latency::new(cfg.median_ms, cfg.p99_ms),
        faults: Faults {
            rate_429: cfg.rate_429,
            rate_5xx: cfg.rate_5xx,
            outage,
            outage_kind: cfg.outage_kind,
            timeout: secs(cfg.tiktok_timeout_s),
        },
        aws: AwsLatency {
            dynamodb: secs(cfg.dynamodb_ms / 1000.0),
            kms: secs(cfg.kms_ms / 1000.0),
            sqs: secs(cfg.sqs_ms / 1000.0),
        },
        lifetimes: Lifetimes {
            short: hours(cfg.access_hours),
            long: chrono::Duration::hours(24),
            long_share: cfg.mix_24h,
            seed: cfg.seed ^ 0x5EED,
        },
    })
}

fn refresher(world: &Arc<World>, cfg: &Config, concurrency: usize) -> SimRefresher {
    let settings = RefreshSettings {
        concurrency,
        backoff: Duration::from_millis(250),
        due_shards: DueShards::new(cfg.shards).expect("checked in Config::check"),
        ..RefreshSettings::default()
    };
    let budget = RefreshBudget::new(
        &settings,
        secs(cfg.tiktok_timeout_s),
        secs(cfg.aws_timeout_s),
    );
    Refresher::new(
        SimStore(world.clone()),
        SimSealer(world.clone()),
        SimTikTok {
            world: world.clone(),
            cpu: Arc::new(Cpu::new(cfg.cpu_ms, cfg.vcpu)),
        },
        settings,
        budget,
        world.clock.clone(),
    )
}

/// Connects every account, straight into the stand-ins (not counted).
/// Each grant was issued at `issued(n, due_after_start)`: given how long
/// after the start the account first falls due.
async fn seed(
    world: &World,
    accounts: usize,
    issued_for: impl Fn(usize, chrono::Duration) -> DateTime<Utc>,
) -> anyhow::Result<()> {
    let start = world.clock.now();
    let scopes = Scopes::parse("user.info.basic")?;
    for n in 0..accounts {
        let id = account_id(n);
        let life = world.lifetimes.of(n);
        // Due this long after issue: the lifetime less the schedule's lead.
        let cycle = schedule::due_at(start, start + life) - start;
        let issued = issued_for(n, cycle);
        let tokens = world.tiktok.issue(&id, issued)?;
        let sealed = MemorySealer.seal(&id, &tokens).await?;
        let account = Account {
            id: id.clone(),
            owner: UserId::parse(format!("u{}", n % 1000))?,
            profile: Profile {
                display_name: format!("account {n}"),
                avatar_url: None,
            },
            status: AccountStatus::Active,
            scopes: scopes.clone(),
            access_expires_at: issued + life,
            refresh_expires_at: issued + chrono::Duration::days(180),
            last_refreshed_at: None,
            last_error: None,
            connected_at: issued,
            granted_at: issued,
            token_version: 1,
            sealed_tokens: Some(sealed),
        };
        world.store.put_account(&account, None).await?;
        let mut measure = world.measure();
        measure.issued[n] = millis(issued);
        measure.expires[n] = millis(issued + life);
    }
    Ok(())
}

async fn fanout(cfg: &Config) -> anyhow::Result<Fanout> {
    let start = epoch();
    let world = world(cfg, cfg.accounts, start, true);
    // Grants issued at random over the last cycle: due times spread evenly
    // over the first cycle, none due at the start.
    seed(&world, cfg.accounts, |_, cycle| {
        let back = cycle.num_milliseconds() as f64 * world.rng.unit();
        start - chrono::Duration::milliseconds(back as i64)
    })
    .await?;
    // Seeding takes no virtual time: nothing in it sleeps.
    let end = start + hours(cfg.hours);
    let measured_from = start + hours(cfg.warmup_hours);
    let tally = Arc::new(Mutex::new(Tally {
        min_limit: cfg.concurrency,
        ..Tally::default()
    }));
    let lock =
        |t: &Arc<Mutex<Tally>>| -> Tally { t.lock().unwrap_or_else(|p| p.into_inner()).clone() };

    // The schedule: a plan every SWEEP_INTERVAL, from the start.
    let planner = refresher(&world, cfg, cfg.concurrency);
    {
        let (world, tally) = (world.clone(), tally.clone());
        tokio::spawn(async move {
            let queue = SimQueue(world.clone());
            let mut next = tokio::time::Instant::now();
            loop {
                let began = world.clock.now();
                let result = planner.plan(&queue).await;
                let took = (world.clock.now() - began).num_milliseconds();
                {
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    t.planner_invocations += 1;
                    t.planner_ms += took;
                    match result {
                        Ok(summary) => t.slices_planned += summary.planned,
                        Err(_) => t.plan_errors += 1,
                    }
                }
                next += SWEEP_INTERVAL.to_std().expect("a positive interval");
                tokio::time::sleep_until(next).await;
            }
        });
    }

    // The worker instances: each takes one slice at a time.
    let mut instances = Vec::new();
    for _ in 0..cfg.max_workers {
        let worker = refresher(&world, cfg, cfg.concurrency);
        instances.push(worker.clone());
        let (world, tally) = (world.clone(), tally.clone());
        let timeout = chrono::Duration::milliseconds((cfg.worker_timeout_s * 1000.0) as i64);
        tokio::spawn(async move {
            let queue = SimQueue(world.clone());
            loop {
                let waiting = world.sent.notified();
                let Some(slice) = world.queue.take() else {
                    tokio::select! {
                        () = waiting => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                };
                world.calls.sqs_receive.add(1);
                {
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    t.busy_now += 1;
                    t.peak_busy = t.peak_busy.max(t.busy_now);
                }
                let began = world.clock.now();
                let done = worker
                    .work(slice.clone(), Deadline::at(began + timeout), &queue)
                    .await;
                let took = (world.clock.now() - began).num_milliseconds();
                let failed = {
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    t.busy_now -= 1;
                    t.invocations += 1;
                    t.busy_ms += took;
                    t.min_limit = t.min_limit.min(worker.in_flight_limit());
                    match done {
                        Ok(done) => {
                            world.calls.sqs_delete.add(1);
                            let s = done.summary;
                            t.due += s.due;
                            t.refreshed += s.refreshed;
                            t.skipped += s.skipped;
                            t.failed += s.failed;
                            t.reauth_required += s.reauth_required;
                            t.left += s.left;
                            t.continued += u64::from(done.continued.is_some());
                            false
                        }
                        Err(_) => {
                            t.work_errors += 1;
                            true
                        }
                    }
                };
                if failed {
                    // Not deleted: the queue hands the slice out again.
                    let _ = world.queue.send_slices(&[slice], Duration::ZERO).await;
                }
            }
        });
    }

    // Sampling: the lowest in-flight limit each second, the expired
    // accounts each minute; until the end.
    let mut peak_expired = 0;
    let mut recovery_min = None;
    let outage = world.faults.outage;
    let mut tick: u64 = 0;
    while world.clock.now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tick += 1;
        let limits: Vec<usize> = instances.iter().map(Refresher::in_flight_limit).collect();
        {
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(lowest) = limits.iter().min() {
                t.min_limit = t.min_limit.min(*lowest);
            }
            if t.busy_now > 0 && now_measured(&world, measured_from) {
                t.limit_sum += limits.iter().sum::<usize>() as u64;
                t.limit_samples += limits.len() as u64;
            }
        }
        if !tick.is_multiple_of(60) {
            continue;
        }
        let now = world.clock.now();
        if now < measured_from {
            continue;
        }
        let expired = world.measure().expired_now(millis(now));
        peak_expired = peak_expired.max(expired);
        if let Some((_, outage_end)) = outage
            && now >= outage_end
            && recovery_min.is_none()
            && expired == 0
        {
            recovery_min = Some((now - outage_end).num_seconds() as f64 / 60.0);
        }
    }
    let now = world.clock.now();
    let expired_at_end = world.measure().expired_now(millis(now));
    world.measure().finish(millis(now));
    let measured_s = (now - measured_from).num_milliseconds() as f64 / 1000.0;
    Ok(Fanout {
        tally: lock(&tally),
        start,
        measured_s,
        rotations: world.tiktok.refreshes(),
        slices_sent: world.queue.sent(),
        outage,
        peak_expired,
        recovery_min,
        expired_at_end,
        world,
    })
}

fn now_measured(world: &World, from: DateTime<Utc>) -> bool {
    world.clock.now() >= from
}

/// The same accounts and latencies, refreshed one at a time by one sweep
/// (concurrency 1) in one invocation of the worker's timeout.
async fn sequential(cfg: &Config) -> anyhow::Result<Sequential> {
    let start = epoch();
    let sample = cfg.sequential_sample;
    let world = world(cfg, sample, start, false);
    // Every account due a minute ago.
    seed(&world, sample, |_, cycle| {
        start - cycle - chrono::Duration::minutes(1)
    })
    .await?;
    let one = refresher(&world, cfg, 1);
    let began = world.clock.now();
    let deadline = Deadline::at(
        began + chrono::Duration::milliseconds((cfg.worker_timeout_s * 1000.0) as i64),
    );
    let summary = one
        .run_until(Command::Sweep { dry_run: false }, deadline)
        .await;
    let elapsed = world.clock.now() - began;
    Ok(Sequential {
        refreshed: summary.refreshed,
        elapsed_s: elapsed.num_milliseconds() as f64 / 1000.0,
    })
}
