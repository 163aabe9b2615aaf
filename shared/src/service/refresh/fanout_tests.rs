//! Fan-out on the stand-ins: plans, workers on overlapping slices, a worker
//! killed mid-slice, a worker out of time, and the shard count changed
//! while sweeping. Each account is refreshed exactly once per due time.

use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::join_all;

use super::*;
use crate::{
    adapters::memory::MemoryQueue,
    domain::{
        ports::{RefreshLeases, RefreshQueue},
        schedule::{DueShards, Slice},
        secrets::RefreshToken,
        tiktok::{TikTokError, TokenGrant},
    },
    support::deadline::Deadline,
};

impl World {
    async fn connect_many(&self, prefix: &str, count: usize) -> Vec<AccountId> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            ids.push(self.connect(&format!("{prefix}-{i}")).await);
        }
        ids
    }

    /// Every account at `version`, its stored token the one TikTok honours.
    async fn assert_all_at(&self, ids: &[AccountId], version: u64) {
        for id in ids {
            let account = self.account(id).await;
            assert_eq!(account.token_version, version, "{id}");
            assert_eq!(account.status, AccountStatus::Active, "{id}");
        }
    }
}

/// Runs `workers` workers at once, each taking slices from `queue` until it
/// is empty. Returns the summaries' refreshed counts per worker.
async fn drain<T: TokenEndpoint>(
    workers: &[Refresher<Arc<MemoryStore>, MemorySealer, T>],
    queue: &MemoryQueue,
) -> Vec<u64> {
    join_all(workers.iter().map(|worker| async move {
        let mut refreshed = 0;
        while let Some(slice) = queue.take() {
            let done = worker
                .work(slice, Deadline::NONE, queue)
                .await
                .expect("the memory queue takes every slice");
            refreshed += done.summary.refreshed;
            assert_eq!(done.summary.failed + done.summary.reauth_required, 0);
            tokio::task::yield_now().await;
        }
        refreshed
    }))
    .await
}

#[tokio::test]
async fn a_plan_sends_one_slice_per_shard_with_due_accounts_and_refreshes_nothing() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(4).unwrap());
    world.connect_many("open", 100).await;
    let queue = MemoryQueue::new();
    let planner = world.refresher_with(|s| s.due_shards = DueShards::new(4).unwrap());
    // Nothing due yet: nothing planned.
    let plan = planner.plan(&queue).await.unwrap();
    assert_eq!((plan.planned, plan.due, queue.len()), (0, 0, 0));

    world.time.advance(Duration::minutes(50));
    let plan = planner.plan(&queue).await.unwrap();
    assert_eq!((plan.planned, plan.due), (4, 100));
    assert_eq!(world.tiktok.refreshes(), 0, "a plan refreshes nothing");
    let mut shards: Vec<u32> = std::iter::from_fn(|| queue.take())
        .map(|slice| {
            assert_eq!((slice.due_by, slice.after), (world.clock.now(), None));
            slice.shard
        })
        .collect();
    shards.sort();
    assert_eq!(shards, [0, 1, 2, 3]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["action"], "plan");
    assert_eq!(json["planned"], 4);
}

#[tokio::test]
async fn four_workers_on_overlapping_slices_refresh_each_of_1000_accounts_once() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(4).unwrap());
    let ids = world.connect_many("open", 1000).await;
    world.time.advance(Duration::minutes(50));
    let queue = MemoryQueue::new();
    let shards = |s: &mut RefreshSettings| {
        s.due_shards = DueShards::new(4).unwrap();
        // Small pages, so workers on one slice interleave page by page.
        s.page_size = 7;
        s.concurrency = 8;
    };
    world.refresher_with(shards).plan(&queue).await.unwrap();
    // Every slice is delivered four times (SQS delivers at least once), and
    // slices starting midway overlap the whole ones.
    let planned: Vec<Slice> = std::iter::from_fn(|| queue.take()).collect();
    assert_eq!(planned.len(), 4);
    let mut overlapping = Vec::new();
    for slice in &planned {
        let mut ids: Vec<_> = ids
            .iter()
            .filter(|id| DueShards::new(4).unwrap().of(id) == slice.shard)
            .collect();
        ids.sort();
        for _ in 0..4 {
            overlapping.push(slice.clone());
        }
        // A slice resuming after the shard's first account.
        let first = world.account(ids[0]).await.due_at().unwrap().timestamp();
        overlapping.push(Slice {
            after: Some(crate::domain::schedule::DuePosition {
                due_at: first,
                account_id: ids[0].clone(),
            }),
            ..slice.clone()
        });
    }
    queue
        .send_slices(&overlapping, std::time::Duration::ZERO)
        .await
        .unwrap();
    let workers: Vec<_> = (0..4).map(|_| world.refresher_with(shards)).collect();
    let per_worker = drain(&workers, &queue).await;

    assert_eq!(per_worker.iter().sum::<u64>(), 1000, "{per_worker:?}");
    assert!(
        per_worker.iter().filter(|n| **n > 0).count() > 1,
        "the workers shared the work: {per_worker:?}"
    );
    assert_eq!(world.tiktok.refreshes(), 1000, "each account rotated once");
    world.assert_all_at(&ids, 2).await;
}

/// TikTok that stops answering after `answers` refreshes, as for a worker
/// whose process is killed while it waits on TikTok.
struct Stalling {
    inner: Arc<MemoryTikTok>,
    answers: AtomicI64,
}

impl TokenEndpoint for Stalling {
    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: chrono::DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        if self.answers.fetch_sub(1, Ordering::SeqCst) <= 0 {
            std::future::pending::<()>().await;
        }
        self.inner.refresh(refresh_token, now).await
    }
}

#[tokio::test]
async fn a_worker_killed_mid_slice_leaves_nothing_lost_and_another_finishes_its_slice() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(1).unwrap());
    let ids = world.connect_many("open", 300).await;
    world.time.advance(Duration::minutes(50));
    let one_shard = |s: &mut RefreshSettings| s.due_shards = DueShards::new(1).unwrap();
    let queue = MemoryQueue::new();
    world.refresher_with(one_shard).plan(&queue).await.unwrap();
    let slice = queue.take().expect("one slice");

    let killed = world.refresher_on(
        Stalling {
            inner: world.tiktok.clone(),
            answers: AtomicI64::new(100),
        },
        one_shard,
    );
    let run = killed.work(slice.clone(), Deadline::NONE, &queue);
    let stopped = tokio::time::timeout(std::time::Duration::from_millis(500), run).await;
    assert!(stopped.is_err(), "the worker was killed mid-slice");
    assert_eq!(world.tiktok.refreshes(), 100);
    assert!(queue.is_empty(), "a killed worker sends nothing on");

    // SQS shows the message again after its visibility timeout, which
    // outlives the leases the killed worker held.
    world.time.advance(Duration::minutes(6));
    let done = world
        .refresher_with(one_shard)
        .work(slice, Deadline::NONE, &queue)
        .await
        .unwrap();
    assert_eq!(done.summary.refreshed, 200);
    assert_eq!((done.summary.failed, done.summary.reauth_required), (0, 0));
    assert_eq!(done.continued, None);
    assert_eq!(world.tiktok.refreshes(), 300, "no account rotated twice");
    world.assert_all_at(&ids, 2).await;
}

/// TikTok whose every answer takes `step` of the clock's time.
struct Slow {
    inner: Arc<MemoryTikTok>,
    time: ManualTime,
    step: Duration,
}

impl TokenEndpoint for Slow {
    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: chrono::DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        self.time.advance(self.step);
        self.inner.refresh(refresh_token, now).await
    }
}

#[tokio::test]
async fn a_worker_out_of_time_sends_the_rest_on_and_the_next_takes_it_from_there() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(1).unwrap());
    let ids = world.connect_many("open", 120).await;
    world.time.advance(Duration::minutes(50));
    let settings = |s: &mut RefreshSettings| {
        s.due_shards = DueShards::new(1).unwrap();
        s.page_size = 10;
        s.concurrency = 4;
    };
    let queue = MemoryQueue::new();
    world.refresher_with(settings).plan(&queue).await.unwrap();
    let mut slices = 0;
    let mut refreshed = 0;
    // Each invocation has 3 minutes; each refresh takes 2 seconds of it.
    while let Some(slice) = queue.take() {
        slices += 1;
        let worker = world.refresher_on(
            Slow {
                inner: world.tiktok.clone(),
                time: world.time.clone(),
                step: Duration::seconds(2),
            },
            settings,
        );
        let deadline = Deadline::at(world.clock.now() + Duration::minutes(3));
        let done = worker.work(slice, deadline, &queue).await.unwrap();
        assert_eq!(done.summary.failed, 0);
        refreshed += done.summary.refreshed;
        if let Some(rest) = &done.continued {
            assert!(
                rest.after.is_some(),
                "the rest starts where this one stopped"
            );
            assert!(done.summary.refreshed > 0);
        }
    }
    assert!(slices > 1, "the slice took more than one invocation");
    assert_eq!(refreshed, 120);
    assert_eq!(world.tiktok.refreshes(), 120);
    world.assert_all_at(&ids, 2).await;
}

#[tokio::test]
async fn the_most_urgent_accounts_of_a_slice_go_first() {
    let world = World::new();
    // Connected a minute apart: the first connected expires first.
    world.store.set_due_shards(DueShards::new(1).unwrap());
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(world.connect(&format!("open-{i:02}")).await);
        world.time.advance(Duration::minutes(1));
    }
    world.time.advance(Duration::minutes(50));
    let settings = |s: &mut RefreshSettings| {
        s.due_shards = DueShards::new(1).unwrap();
        s.concurrency = 1;
    };
    let queue = MemoryQueue::new();
    world.refresher_with(settings).plan(&queue).await.unwrap();
    let slice = queue.take().unwrap();
    world
        .refresher_with(settings)
        .work(slice, Deadline::NONE, &queue)
        .await
        .unwrap();
    // The new grants were minted in the order TikTok was asked.
    let mut order = Vec::new();
    for id in &ids {
        let account = world.account(id).await;
        let tokens = MemorySealer
            .open(id, account.sealed_tokens.as_ref().unwrap())
            .await
            .unwrap();
        let minted: u64 = tokens
            .refresh
            .expose()
            .rsplit('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        order.push(minted);
    }
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "refreshed in order of expiry");
}

#[tokio::test]
async fn resharding_while_sweeping_loses_and_doubles_nothing() {
    let world = World::new();
    let ids = world.connect_many("open", 1000).await;
    let queue = MemoryQueue::new();
    let mut shards = 16;
    let mut cycles = 0;
    let mut settled_at = None;
    // Ten cycles of 50 minutes: each makes every account due once more.
    for cycle in 1..=10u64 {
        world.time.advance(Duration::minutes(50));
        let count = DueShards::new(shards).unwrap();
        let with = move |s: &mut RefreshSettings| {
            s.due_shards = count;
            s.page_size = 25;
        };
        let plan = world.refresher_with(with).plan(&queue).await.unwrap();
        assert_eq!(plan.due, 1000, "cycle {cycle}: every account is due once");
        // Half the slices are worked under this count; then a deployment
        // changes it, and the other half is worked by the new functions.
        let planned: Vec<Slice> = std::iter::from_fn(|| queue.take()).collect();
        let (first, second) = planned.split_at(planned.len() / 2);
        let mut refreshed = 0;
        for slice in first {
            let done = world
                .refresher_with(with)
                .work(slice.clone(), Deadline::NONE, &queue)
                .await
                .unwrap();
            refreshed += done.summary.refreshed;
        }
        queue
            .send_slices(second, std::time::Duration::ZERO)
            .await
            .unwrap();
        shards = match cycle {
            2 => 64,
            5 => 4,
            _ => shards,
        };
        let count = DueShards::new(shards).unwrap();
        world.store.set_due_shards(count);
        let workers: Vec<_> = (0..3)
            .map(|_| {
                world.refresher_with(move |s| {
                    s.due_shards = count;
                    s.page_size = 25;
                })
            })
            .collect();
        refreshed += drain(&workers, &queue).await.iter().sum::<u64>();
        assert_eq!(refreshed, 1000, "cycle {cycle}");
        cycles = cycle;
        let sizes = world.store.shard_sizes();
        if settled_at.is_none() && cycle > 5 && sizes.keys().all(|s| *s < 4) {
            settled_at = Some(cycle);
        }
    }
    assert_eq!(world.tiktok.refreshes(), 1000 * cycles);
    world.assert_all_at(&ids, cycles + 1).await;
    // Every account now lives in the last count's shards, and the plans
    // let the earlier, wider shards go once they were empty and settled.
    assert!(world.store.shard_sizes().keys().all(|s| *s < 4));
    assert!(settled_at.is_some());
    let span = world.store.shard_span().await.unwrap().unwrap();
    assert_eq!((span.widest, span.count), (4, 4));
}

/// TikTok answering 503 to the first `refusals` refreshes.
struct Refusing {
    inner: Arc<MemoryTikTok>,
    refusals: AtomicI64,
}

impl TokenEndpoint for Refusing {
    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: chrono::DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        if self.refusals.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Err(TikTokError::Api {
                status: 503,
                code: "internal_error".into(),
                message: "try again".into(),
                log_id: None,
            });
        }
        self.inner.refresh(refresh_token, now).await
    }
}

#[tokio::test]
async fn accounts_that_failed_are_taken_again_within_the_same_plan() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(1).unwrap());
    let ids = world.connect_many("open", 50).await;
    world.time.advance(Duration::minutes(50));
    let settings = |s: &mut RefreshSettings| {
        s.due_shards = DueShards::new(1).unwrap();
        s.tiktok_attempts = 1;
        s.failure_retry = std::time::Duration::ZERO;
    };
    let queue = MemoryQueue::new();
    world.refresher_with(settings).plan(&queue).await.unwrap();
    let worker = world.refresher_on(
        Refusing {
            inner: world.tiktok.clone(),
            refusals: AtomicI64::new(30),
        },
        settings,
    );
    let mut rounds = 0;
    let mut failed = 0;
    while let Some(slice) = queue.take() {
        rounds += 1;
        let done = worker.work(slice, Deadline::NONE, &queue).await.unwrap();
        failed += done.summary.failed;
        if done.summary.failed > 0 {
            assert!(
                done.continued.is_some(),
                "the failed accounts go round again"
            );
        }
    }
    assert_eq!(failed, 30);
    assert!(rounds > 1, "{rounds}");
    assert_eq!(
        world.tiktok.refreshes(),
        50,
        "each refreshed once, in this plan"
    );
    world.assert_all_at(&ids, 2).await;

    // Once the next plan is due, a slice's failures are left to it.
    world.time.advance(Duration::minutes(50));
    world.refresher_with(settings).plan(&queue).await.unwrap();
    let slice = queue.take().unwrap();
    world.time.advance(Duration::minutes(31));
    let refusing = world.refresher_on(
        Refusing {
            inner: world.tiktok.clone(),
            refusals: AtomicI64::new(1_000),
        },
        settings,
    );
    let done = refusing.work(slice, Deadline::NONE, &queue).await.unwrap();
    assert_eq!(done.summary.failed, 50);
    assert_eq!(done.continued, None);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_worker_that_cannot_start_one_account_does_not_go_round_in_circles() {
    let world = World::new();
    world.store.set_due_shards(DueShards::new(1).unwrap());
    world.connect_many("open", 5).await;
    world.time.advance(Duration::minutes(50));
    let one_shard = |s: &mut RefreshSettings| s.due_shards = DueShards::new(1).unwrap();
    let queue = MemoryQueue::new();
    world.refresher_with(one_shard).plan(&queue).await.unwrap();
    let slice = queue.take().unwrap();
    // A deadline too near for one refresh's worst case.
    let deadline = Deadline::at(world.clock.now() + Duration::seconds(1));
    let done = world
        .refresher_with(one_shard)
        .work(slice, deadline, &queue)
        .await
        .unwrap();
    assert_eq!((done.summary.due, done.continued), (0, None));
    assert!(queue.is_empty());
    assert_eq!(world.tiktok.refreshes(), 0);
}
