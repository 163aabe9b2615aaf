//! The real refresh code on in-memory stand-ins (`adapters::memory`) and a
//! manual clock: the seam a simulation of many accounts runs through.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::{Command, Outcome, RefreshBudget, RefreshSettings, Refresher};
use crate::{
    adapters::memory::{MemorySealer, MemoryStore, MemoryTikTok},
    domain::{
        account::{Account, AccountStatus, Profile, Scopes},
        ids::{AccountId, UserId},
        ports::{AccountStore, TokenEndpoint, TokenSealer},
    },
    support::clock::{Clock, ManualTime},
};

type MemoryRefresher = Refresher<Arc<MemoryStore>, MemorySealer, Arc<MemoryTikTok>>;

struct World {
    store: Arc<MemoryStore>,
    tiktok: Arc<MemoryTikTok>,
    time: ManualTime,
    clock: Clock,
}

impl World {
    fn new() -> Self {
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (clock, time) = Clock::manual(start);
        Self {
            store: Arc::new(MemoryStore::new()),
            tiktok: Arc::new(MemoryTikTok::new(Duration::hours(2), Duration::days(180))),
            time,
            clock,
        }
    }

    fn refresher(&self) -> MemoryRefresher {
        self.refresher_with(|_| {})
    }

    fn refresher_with(&self, customize: impl FnOnce(&mut RefreshSettings)) -> MemoryRefresher {
        self.refresher_on(self.tiktok.clone(), customize)
    }

    /// A refresher reaching TikTok through `tiktok`.
    fn refresher_on<T: TokenEndpoint>(
        &self,
        tiktok: T,
        customize: impl FnOnce(&mut RefreshSettings),
    ) -> Refresher<Arc<MemoryStore>, MemorySealer, T> {
        let mut settings = RefreshSettings {
            backoff: std::time::Duration::from_millis(1),
            ..RefreshSettings::default()
        };
        customize(&mut settings);
        let budget = RefreshBudget::new(
            &settings,
            Duration::seconds(10).to_std().unwrap(),
            std::time::Duration::from_secs(2),
        );
        Refresher::new(
            self.store.clone(),
            MemorySealer,
            tiktok,
            settings,
            budget,
            self.clock.clone(),
        )
    }

    /// An account connected now, with a 2-hour access token.
    async fn connect(&self, open_id: &str) -> AccountId {
        let id = AccountId::parse(open_id).unwrap();
        let now = self.clock.now();
        let tokens = self.tiktok.issue(&id, now).unwrap();
        let account = Account {
            id: id.clone(),
            owner: UserId::parse("alice").unwrap(),
            profile: Profile {
                display_name: open_id.into(),
                avatar_url: None,
            },
            status: AccountStatus::Active,
            scopes: Scopes::parse("user.info.basic").unwrap(),
            access_expires_at: now + Duration::hours(2),
            refresh_expires_at: now + Duration::days(180),
            last_refreshed_at: None,
            last_error: None,
            connected_at: now,
            granted_at: now,
            token_version: 1,
            sealed_tokens: Some(MemorySealer.seal(&id, &tokens).await.unwrap()),
        };
        self.store.put_account(&account, None).await.unwrap();
        id
    }

    async fn account(&self, id: &AccountId) -> Account {
        self.store.get_account(id).await.unwrap().unwrap()
    }
}

#[path = "fanout_tests.rs"]
mod fanout;

#[tokio::test]
async fn overlapping_sweeps_on_stand_ins_refresh_each_due_account_once() {
    let world = World::new();
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(world.connect(&format!("open-{i}")).await);
    }
    // Nothing is due until the clock moves past the lead time.
    let nothing = world
        .refresher()
        .run(Command::Sweep { dry_run: false })
        .await;
    assert_eq!((nothing.due, world.tiktok.refreshes()), (0, 0));

    world.time.advance(Duration::minutes(50));
    let (a, b, c) = (world.refresher(), world.refresher(), world.refresher());
    let sweep = Command::Sweep { dry_run: false };
    let (a, b, c) = tokio::join!(a.run(sweep.clone()), b.run(sweep.clone()), c.run(sweep));
    assert_eq!(a.refreshed + b.refreshed + c.refreshed, 200);
    assert!(
        a.refreshed < 200,
        "the sweeps overlapped: {a:?} {b:?} {c:?}"
    );
    assert_eq!(a.failed + b.failed + c.failed + a.reauth_required, 0);
    assert_eq!(world.tiktok.refreshes(), 200, "each account rotated once");
    for id in &ids {
        let account = world.account(id).await;
        assert_eq!(account.token_version, 2);
        assert_eq!(account.last_refreshed_at, Some(world.clock.now()));
        // The stored token is the one TikTok now honours.
        let tokens = MemorySealer
            .open(id, account.sealed_tokens.as_ref().unwrap())
            .await
            .unwrap();
        assert!(tokens.refresh.expose().starts_with(&format!("rft.{id}.")));
    }
    // The next sweep finds nothing due until the new tokens' lead time.
    let again = world
        .refresher()
        .run(Command::Sweep { dry_run: false })
        .await;
    assert_eq!((again.due, world.tiktok.refreshes()), (0, 200));
}

#[tokio::test]
async fn the_refresh_reads_the_time_from_its_clock() {
    let world = World::new();
    let id = world.connect("open-1").await;
    // Six months and a day later the refresh token itself has expired:
    // the account is flagged without asking TikTok.
    world.time.advance(Duration::days(181));
    let summary = world.refresher().run(Command::Cleanup).await;
    assert_eq!(summary.reauth_required, 1);
    assert_eq!(world.tiktok.refreshes(), 0);
    let account = world.account(&id).await;
    assert_eq!(account.status, AccountStatus::ReauthRequired);
    assert_eq!(account.last_error.as_deref(), Some("refresh_token_expired"));
}

#[tokio::test]
async fn a_spent_refresh_token_gets_the_account_flagged_for_a_reconnect() {
    let world = World::new();
    let id = world.connect("open-1").await;
    let spent = world.account(&id).await;
    world.time.advance(Duration::minutes(50));
    let refresher = world.refresher();
    assert_eq!(refresher.refresh_now(&id).await, Outcome::Refreshed);
    // The tokens TikTok has rotated away come back, as from an old backup.
    let current = world.account(&id).await;
    let restored = Account {
        token_version: current.token_version + 1,
        ..spent
    };
    world
        .store
        .put_account(&restored, Some(current.token_version))
        .await
        .unwrap();
    assert_eq!(
        refresher.refresh_now(&id).await,
        Outcome::ReauthRequired(
            "invalid_grant: TikTok no longer accepts this account's grant; connect it again".into()
        )
    );
    let account = world.account(&id).await;
    assert_eq!(account.status, AccountStatus::ReauthRequired);
    assert_eq!(
        account.last_error.as_deref(),
        Some("invalid_grant: TikTok no longer accepts this account's grant; connect it again")
    );
    assert_eq!(world.tiktok.refreshes(), 1);
}
