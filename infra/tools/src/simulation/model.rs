//! The world a simulation runs in: the in-memory stand-ins of the store,
//! KMS, TikTok and the refresh queue, wrapped so that every call takes its
//! service's latency in virtual time, is counted as the AWS operation it
//! stands for, and (for TikTok) fails as the scenario says. What the
//! refresher writes is also followed account by account: when each
//! account's grant was due, when it was replaced, and whether its access
//! token expired first.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeZone, Utc};
use shared::{
    adapters::memory::{MemoryQueue, MemorySealer, MemoryStore, MemoryTikTok},
    domain::{
        account::{Account, AccountStatus},
        ids::AccountId,
        ports::{
            AccountStore, DuePage, QueueError, RefreshLeases, RefreshQueue, SealError, StoreError,
            TokenEndpoint, TokenSealer,
        },
        schedule::{self, DuePosition, ShardSpan, Slice},
        secrets::{RefreshToken, SealedTokens, TokenSet},
        tiktok::{TikTokError, TokenGrant},
    },
    support::clock::Clock,
};
use tokio::sync::Notify;

/// A counter of calls.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Calls made, by service and operation, by the planner and the workers
/// (seeding the accounts is not counted).
#[derive(Default)]
pub struct Calls {
    pub get_item: Counter,
    /// Account writes: a refresh's compare-and-swap, or a flag.
    pub put_item: Counter,
    /// Lease taken, released, or a failure recorded.
    pub update_item: Counter,
    pub query: Counter,
    /// Read request units of the queries, in halves (eventually
    /// consistent reads of the keys-only due index).
    pub query_half_rru: Counter,
    /// The shard-span record: read and written by each plan.
    pub span_get: Counter,
    pub span_put: Counter,
    pub kms_encrypt: Counter,
    pub kms_decrypt: Counter,
    /// SendMessageBatch calls (ten slices to a batch).
    pub sqs_send: Counter,
    pub sqs_receive: Counter,
    pub sqs_delete: Counter,
    pub tiktok: Counter,
    pub tiktok_ok: Counter,
    pub tiktok_429: Counter,
    pub tiktok_5xx: Counter,
    pub tiktok_timeout: Counter,
    /// A refresh token TikTok had already rotated, presented again.
    pub invalid_grant: Counter,
    pub flagged: Counter,
}

/// A small, seeded generator (SplitMix64): the same seed, the same run
/// (up to the refresher's own jitter).
pub struct Rng(Mutex<u64>);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(seed))
    }

    pub fn next_u64(&self) -> u64 {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(*state)
    }

    /// Uniform in [0, 1).
    pub fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// SplitMix64's finaliser: a well-spread hash of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// TikTok's answer time: log-normal, from its median and 99th percentile.
pub struct Latency {
    median_ms: f64,
    sigma: f64,
}

impl Latency {
    pub fn new(median_ms: f64, p99_ms: f64) -> Self {
        // z of the 99th percentile of the standard normal.
        const Z99: f64 = 2.326_347_9;
        Self {
            median_ms: median_ms.max(0.0),
            sigma: (p99_ms.max(median_ms) / median_ms.max(f64::MIN_POSITIVE)).ln() / Z99,
        }
    }

    pub fn sample(&self, rng: &Rng) -> Duration {
        Duration::from_secs_f64(self.median_ms * (self.sigma * rng.normal()).exp() / 1000.0)
    }
}

/// How every TikTok call fails during an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutageKind {
    /// A 503 after the usual answer time.
    ServerError,
    /// No answer: the call waits out the client's timeout.
    Timeout,
}

/// What TikTok does besides answering.
pub struct Faults {
    pub rate_429: f64,
    pub rate_5xx: f64,
    /// Every call fails in `[start, end)`.
    pub outage: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub outage_kind: OutageKind,
    /// The refresher's TikTok timeout: a slower answer is a timeout.
    pub timeout: Duration,
}

/// Per-call latency of the AWS services.
pub struct AwsLatency {
    pub dynamodb: Duration,
    pub kms: Duration,
    pub sqs: Duration,
}

/// Access lifetimes: `short` for most accounts, `long` for the share
/// `long_share` of them (chosen by a hash of the account's number).
pub struct Lifetimes {
    pub short: chrono::Duration,
    pub long: chrono::Duration,
    pub long_share: f64,
    pub seed: u64,
}

impl Lifetimes {
    pub fn of(&self, account: usize) -> chrono::Duration {
        let draw = (mix(self.seed ^ account as u64) >> 11) as f64 / (1u64 << 53) as f64;
        if draw < self.long_share {
            self.long
        } else {
            self.short
        }
    }
}

/// An account's name in the simulation: `a` and its number.
pub fn account_id(n: usize) -> AccountId {
    AccountId::parse(format!("a{n}")).expect("a letter and digits make an account id")
}

/// The number of a simulation's account, from its id.
pub fn account_number(id: &AccountId) -> Option<usize> {
    id.as_ref().strip_prefix('a')?.parse().ok()
}

pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn at_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("simulated times are in range")
}

/// Largest lag the histogram resolves, in seconds; longer ones land in the
/// last bucket (the maximum is kept exactly).
const LAG_BUCKETS: usize = 24 * 3600;

/// What is followed account by account, and the distributions measured
/// from it.
pub struct Measure {
    /// From here on, refreshes and expiries count.
    pub from_ms: i64,
    pub start_ms: i64,
    /// Expiries in `[start, end)` count as the outage's.
    pub outage_window: Option<(i64, i64)>,
    /// When each account's current grant was issued, and its access token
    /// expires (`i64::MAX` once the account no longer needs refreshing).
    pub issued: Vec<i64>,
    pub expires: Vec<i64>,
    /// Due-to-refresh lag, per second.
    lag_hist: Vec<u64>,
    pub lag_max_ms: i64,
    pub lag_count: u64,
    /// Refreshes per minute since the start (warm-up included).
    pub per_minute: Vec<u64>,
    pub refreshed: u64,
    /// Access tokens that expired before the refresh replacing them, by
    /// when they expired.
    pub expired_outside: u64,
    pub expired_in_outage: u64,
}

impl Measure {
    pub fn new(accounts: usize, start_ms: i64, from_ms: i64, outage: Option<(i64, i64)>) -> Self {
        Self {
            from_ms,
            start_ms,
            outage_window: outage,
            issued: vec![i64::MAX; accounts],
            expires: vec![i64::MAX; accounts],
            lag_hist: vec![0; LAG_BUCKETS + 1],
            lag_max_ms: 0,
            lag_count: 0,
            per_minute: Vec::new(),
            refreshed: 0,
            expired_outside: 0,
            expired_in_outage: 0,
        }
    }

    /// Account `n` now holds a grant issued at `issued_ms` whose access
    /// token expires at `expires_ms`; it replaced the one held before at
    /// `now_ms`.
    pub fn replaced(&mut self, n: usize, issued_ms: i64, expires_ms: i64, now_ms: i64) {
        let (Some(issued), Some(expires)) = (self.issued.get_mut(n), self.expires.get_mut(n))
        else {
            return;
        };
        let (before_issued, before_expires) = (*issued, *expires);
        *issued = issued_ms;
        *expires = expires_ms;
        let minute = usize::try_from((now_ms - self.start_ms) / 60_000).unwrap_or(0);
        if self.per_minute.len() <= minute {
            self.per_minute.resize(minute + 1, 0);
        }
        self.per_minute[minute] += 1;
        if now_ms < self.from_ms || before_expires == i64::MAX {
            return;
        }
        self.refreshed += 1;
        let due = millis(schedule::due_at(
            at_millis(before_issued),
            at_millis(before_expires),
        ));
        let lag = (now_ms - due).max(0);
        self.lag_max_ms = self.lag_max_ms.max(lag);
        self.lag_count += 1;
        let bucket = usize::try_from(lag / 1000).unwrap_or(LAG_BUCKETS);
        self.lag_hist[bucket.min(LAG_BUCKETS)] += 1;
        if now_ms > before_expires && before_expires >= self.from_ms {
            self.expired(before_expires);
        }
    }

    /// Account `n` no longer needs refreshing (flagged).
    pub fn dropped(&mut self, n: usize) {
        if let Some(expires) = self.expires.get_mut(n) {
            *expires = i64::MAX;
        }
    }

    fn expired(&mut self, at_ms: i64) {
        match self.outage_window {
            Some((start, end)) if (start..end).contains(&at_ms) => self.expired_in_outage += 1,
            _ => self.expired_outside += 1,
        }
    }

    /// Accounts whose access token has expired at `now_ms`.
    pub fn expired_now(&self, now_ms: i64) -> u64 {
        self.expires.iter().filter(|e| **e <= now_ms).count() as u64
    }

    /// At the end: tokens that expired in the measured window and were
    /// never replaced count as expired too.
    pub fn finish(&mut self, end_ms: i64) {
        let late: Vec<i64> = self
            .expires
            .iter()
            .copied()
            .filter(|e| *e <= end_ms && *e >= self.from_ms)
            .collect();
        for at in late {
            self.expired(at);
        }
    }

    /// The lag (seconds) below which `q` of the refreshes fell.
    pub fn lag_quantile(&self, q: f64) -> f64 {
        if self.lag_count == 0 {
            return 0.0;
        }
        let target = (q * self.lag_count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (second, n) in self.lag_hist.iter().enumerate() {
            seen += n;
            if seen >= target {
                return second as f64;
            }
        }
        LAG_BUCKETS as f64
    }
}

/// Everything the ports share: the stand-ins, the latencies and faults,
/// the counts and the measurements.
pub struct World {
    pub store: MemoryStore,
    pub tiktok: MemoryTikTok,
    pub queue: MemoryQueue,
    /// Woken when slices are sent (idle workers poll otherwise).
    pub sent: Notify,
    pub calls: Calls,
    pub measure: Mutex<Measure>,
    pub clock: Clock,
    pub rng: Rng,
    pub latency: Latency,
    pub faults: Faults,
    pub aws: AwsLatency,
    pub lifetimes: Lifetimes,
}

impl World {
    pub fn measure(&self) -> MutexGuard<'_, Measure> {
        self.measure.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn dynamodb(&self, counter: &Counter) {
        counter.add(1);
        tokio::time::sleep(self.aws.dynamodb).await;
    }

    async fn kms(&self, counter: &Counter) {
        counter.add(1);
        tokio::time::sleep(self.aws.kms).await;
    }

    /// What the store was asked to write, once written.
    fn written(&self, account: &Account) {
        let Some(n) = account_number(&account.id) else {
            return;
        };
        match (account.status, account.last_refreshed_at) {
            (AccountStatus::Active, Some(issued)) => {
                let now = millis(self.clock.now());
                self.measure()
                    .replaced(n, millis(issued), millis(account.access_expires_at), now);
            }
            (AccountStatus::Active, None) => {}
            _ => {
                self.calls.flagged.add(1);
                self.measure().dropped(n);
            }
        }
    }
}

/// The table, as DynamoDB: each call its latency and its count.
#[derive(Clone)]
pub struct SimStore(pub Arc<World>);

impl AccountStore for SimStore {
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.0.dynamodb(&self.0.calls.get_item).await;
        self.0.store.get_account(id).await
    }

    async fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        self.0.dynamodb(&self.0.calls.put_item).await;
        let result = self.0.store.put_account(account, expected_version).await;
        if result.is_ok() {
            self.0.written(account);
        }
        result
    }
}

/// Bytes of one keys-only due-index entry, for the read units of a query.
const DUE_ENTRY_BYTES: u64 = 100;

impl RefreshLeases for SimStore {
    async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        after: Option<&DuePosition>,
    ) -> Result<DuePage, StoreError> {
        self.0.dynamodb(&self.0.calls.query).await;
        let page = self.0.store.due_page(shard, now, page_size, after).await?;
        let bytes = page.accounts.len() as u64 * DUE_ENTRY_BYTES;
        self.0.calls.query_half_rru.add(bytes.div_ceil(4096).max(1));
        Ok(page)
    }

    async fn shard_has_accounts(&self, shard: u32) -> Result<bool, StoreError> {
        self.0.dynamodb(&self.0.calls.query).await;
        self.0.calls.query_half_rru.add(1);
        self.0.store.shard_has_accounts(shard).await
    }

    async fn shard_span(&self) -> Result<Option<ShardSpan>, StoreError> {
        self.0.dynamodb(&self.0.calls.span_get).await;
        self.0.store.shard_span().await
    }

    async fn record_shard_span(&self, span: &ShardSpan) -> Result<(), StoreError> {
        self.0.dynamodb(&self.0.calls.span_put).await;
        self.0.store.record_shard_span(span).await
    }

    async fn acquire_lease(
        &self,
        id: &AccountId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Account, StoreError> {
        self.0.dynamodb(&self.0.calls.update_item).await;
        self.0
            .store
            .acquire_lease(id, owner, now, until, due_by)
            .await
    }

    async fn record_failure(
        &self,
        id: &AccountId,
        owner: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.0.dynamodb(&self.0.calls.update_item).await;
        self.0.store.record_failure(id, owner, error).await
    }

    async fn release_lease(&self, id: &AccountId, owner: &str) -> Result<(), StoreError> {
        self.0.dynamodb(&self.0.calls.update_item).await;
        self.0.store.release_lease(id, owner).await
    }
}

/// KMS: Encrypt to seal, Decrypt to open.
#[derive(Clone)]
pub struct SimSealer(pub Arc<World>);

impl TokenSealer for SimSealer {
    async fn seal(
        &self,
        account: &AccountId,
        tokens: &TokenSet,
    ) -> Result<SealedTokens, SealError> {
        self.0.kms(&self.0.calls.kms_encrypt).await;
        MemorySealer.seal(account, tokens).await
    }

    async fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> Result<TokenSet, SealError> {
        self.0.kms(&self.0.calls.kms_decrypt).await;
        MemorySealer.open(account, sealed).await
    }
}

/// SQS: ten slices to a SendMessageBatch.
#[derive(Clone)]
pub struct SimQueue(pub Arc<World>);

impl RefreshQueue for SimQueue {
    async fn send_slices(&self, slices: &[Slice], delay: Duration) -> Result<(), QueueError> {
        self.0
            .calls
            .sqs_send
            .add((slices.len() as u64).div_ceil(10));
        tokio::time::sleep(self.0.aws.sqs).await;
        self.0.queue.send_slices(slices, delay).await?;
        self.0.sent.notify_waiters();
        Ok(())
    }
}

/// One function instance's CPU: a refresh holds it for its CPU time at the
/// instance's share of a vCPU, so an instance cannot refresh faster than
/// its CPU allows.
pub struct Cpu {
    held: tokio::sync::Mutex<()>,
    per_call: Duration,
}

impl Cpu {
    pub fn new(cpu_ms: f64, vcpu: f64) -> Self {
        Self {
            held: tokio::sync::Mutex::new(()),
            per_call: Duration::from_secs_f64((cpu_ms / vcpu.max(1e-3)).max(0.0) / 1000.0),
        }
    }

    async fn spend(&self) {
        if self.per_call.is_zero() {
            return;
        }
        let _cpu = self.held.lock().await;
        tokio::time::sleep(self.per_call).await;
    }
}

/// TikTok's token endpoint as seen from one function instance: its answer
/// time, its refusals and outages, strict rotation underneath.
#[derive(Clone)]
pub struct SimTikTok {
    pub world: Arc<World>,
    pub cpu: Arc<Cpu>,
}

fn refused(status: u16, code: &str) -> TikTokError {
    TikTokError::OAuth {
        status,
        code: code.into(),
        description: "refused by the simulation".into(),
        log_id: None,
    }
}

impl TokenEndpoint for SimTikTok {
    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        _now: DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        let world = &self.world;
        let calls = &world.calls;
        calls.tiktok.add(1);
        self.cpu.spend().await;
        let faults = &world.faults;
        let now = world.clock.now();
        let latency = world.latency.sample(&world.rng);
        if faults
            .outage
            .is_some_and(|(start, end)| (start..end).contains(&now))
        {
            return match faults.outage_kind {
                OutageKind::ServerError => {
                    tokio::time::sleep(latency.min(faults.timeout)).await;
                    calls.tiktok_5xx.add(1);
                    Err(refused(503, "server_error"))
                }
                OutageKind::Timeout => {
                    tokio::time::sleep(faults.timeout).await;
                    calls.tiktok_timeout.add(1);
                    Err(TikTokError::Timeout)
                }
            };
        }
        if latency >= faults.timeout {
            // Modelled as never reaching TikTok: the token is not spent.
            tokio::time::sleep(faults.timeout).await;
            calls.tiktok_timeout.add(1);
            return Err(TikTokError::Timeout);
        }
        tokio::time::sleep(latency).await;
        let draw = world.rng.unit();
        if draw < faults.rate_429 {
            calls.tiktok_429.add(1);
            return Err(refused(429, "rate_limit_exceeded"));
        }
        if draw < faults.rate_429 + faults.rate_5xx {
            calls.tiktok_5xx.add(1);
            return Err(refused(503, "server_error"));
        }
        let answered_at = world.clock.now();
        match world.tiktok.refresh(refresh_token, answered_at).await {
            Ok(mut grant) => {
                calls.tiktok_ok.add(1);
                if let Some(n) = account_number(&grant.open_id) {
                    grant.access_expires_at = answered_at + world.lifetimes.of(n);
                }
                Ok(grant)
            }
            Err(e) => {
                if e.is_invalid_grant() {
                    calls.invalid_grant.add(1);
                }
                Err(e)
            }
        }
    }
}
