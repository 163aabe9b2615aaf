//! Token refresh: the sweep that refreshes every due account exactly once,
//! its fan-out (a plan of slices, each refreshed by a worker), a one-account
//! refresh, dry runs, and cleanup.
//!
//! Per account: take the lease (a conditional write that also returns the
//! account), open the tokens, call TikTok, seal the new tokens, and
//! compare-and-swap them in. The compare-and-swap on `token_version`, not the
//! lease, is what guarantees no lost or double write; the lease only keeps
//! two sweeps from spending the same refresh token (TikTok rotates it
//! strictly: the second would get `invalid_grant`).
//!
//! The refresher reaches the store, KMS and TikTok only through the ports
//! in `domain::ports`, and the time only through its [`Clock`], so the same
//! code runs on in-memory stand-ins.

mod account;
mod budget;
mod command;
mod fanout;
mod rules;
mod settings;
mod sweep;
#[cfg(test)]
mod tests;

pub use budget::RefreshBudget;
pub use command::{AccountError, Command, InvalidCommand, MAX_SUMMARY_ERRORS, Outcome, Summary};
pub use fanout::{PlanError, PlanSummary, SliceDone};
pub use settings::{RefreshMode, RefreshSettings};

use std::sync::Arc;

use account::Mode;

use crate::{
    adapters::{kms::KmsSealer, store::Store, tiktok::client::TikTokClient},
    domain::{
        ids::AccountId,
        ports::{AccountStore, RefreshLeases, TokenEndpoint, TokenSealer},
    },
    support::{clock::Clock, deadline::Deadline, pressure::Pressure},
};

/// Refreshes accounts. The type parameters are the ports; the defaults are
/// the AWS and TikTok adapters every function runs on.
#[derive(Clone)]
pub struct Refresher<S = Store, K = KmsSealer, T = TikTokClient> {
    store: S,
    sealer: K,
    tiktok: T,
    settings: RefreshSettings,
    budget: RefreshBudget,
    clock: Clock,
    /// How many refreshes run at once, cut when TikTok pushes back; shared
    /// by the clones of one refresher (one process).
    pressure: Arc<Pressure>,
}

impl<S, K, T> Refresher<S, K, T>
where
    S: AccountStore + RefreshLeases,
    K: TokenSealer,
    T: TokenEndpoint,
{
    pub fn new(
        store: S,
        sealer: K,
        tiktok: T,
        settings: RefreshSettings,
        budget: RefreshBudget,
        clock: Clock,
    ) -> Self {
        Self {
            pressure: Arc::new(Pressure::new(settings.concurrency)),
            store,
            sealer,
            tiktok,
            settings,
            budget,
            clock,
        }
    }

    /// How many refreshes the back-pressure lets run at once now.
    pub fn in_flight_limit(&self) -> usize {
        self.pressure.limit()
    }

    /// Runs a command with no deadline (tests and tools).
    pub async fn run(&self, command: Command) -> Summary {
        self.run_until(command, Deadline::NONE).await
    }

    /// Runs a command, starting no refresh that cannot finish before
    /// `deadline`, and reports its counts as metrics. Each run has its own
    /// lease owner id.
    pub async fn run_until(&self, command: Command, deadline: Deadline) -> Summary {
        let summary = self.execute(command, deadline).await;
        if !summary.dry_run {
            summary.count_metrics();
        }
        summary
    }

    async fn execute(&self, command: Command, deadline: Deadline) -> Summary {
        let owner = lease_owner();
        let now = self.clock.now();
        match command {
            Command::Sweep { dry_run } => self.sweep(&owner, now, dry_run, deadline).await,
            Command::Refresh {
                account_id,
                dry_run,
            } => {
                let mut summary = Summary::new("refresh", dry_run);
                let id = match AccountId::parse(account_id.clone()) {
                    Ok(id) => id,
                    Err(e) => {
                        summary.failed += 1;
                        summary.error(account_id, e.to_string());
                        return summary;
                    }
                };
                summary.due = 1;
                let outcome = if dry_run {
                    self.would_refresh(&id).await
                } else {
                    self.refresh_account(&id, &owner, Mode::Forced, deadline)
                        .await
                };
                summary.record(&id, outcome);
                summary
            }
            Command::Cleanup => self.cleanup(&owner, now, deadline).await,
        }
    }

    /// Refreshes one account now, through the same exactly-once path as the
    /// sweep, with no deadline.
    pub async fn refresh_now(&self, id: &AccountId) -> Outcome {
        self.refresh_now_within(id, Deadline::NONE).await
    }

    /// Refreshes one account now, making only the attempts that can finish
    /// before `deadline`.
    pub async fn refresh_now_within(&self, id: &AccountId, deadline: Deadline) -> Outcome {
        self.refresh_account(id, &lease_owner(), Mode::Forced, deadline)
            .await
    }
}

/// A fresh lease owner id per run.
fn lease_owner() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    format!("refresh-{}", hex::encode(bytes))
}
