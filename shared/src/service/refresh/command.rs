//! What token-refresh is asked to do, and what it answers: commands in,
//! per-account outcomes counted into a summary out. Never a token.

use serde::{Deserialize, Serialize};

use crate::{
    domain::{ids::AccountId, ports::StoreError},
    support::errors::chain_line,
};

/// What the function was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Sweep {
        #[serde(default)]
        dry_run: bool,
    },
    Refresh {
        account_id: String,
        #[serde(default)]
        dry_run: bool,
    },
    Cleanup,
}

#[derive(Debug, thiserror::Error)]
#[error("unrecognised token-refresh input: {0}")]
pub struct InvalidCommand(String);

impl Command {
    /// An EventBridge scheduled event means a sweep; otherwise the input
    /// must name an action.
    pub fn from_event(event: &serde_json::Value) -> Result<Self, InvalidCommand> {
        if event.get("action").is_some() {
            return serde_json::from_value(event.clone())
                .map_err(|e| InvalidCommand(e.to_string()));
        }
        if Self::is_scheduled(event) {
            Ok(Self::Sweep { dry_run: false })
        } else {
            Err(InvalidCommand(
                "expected a scheduled event or an \"action\"".into(),
            ))
        }
    }
}

impl Command {
    /// Whether the input is the schedule's (an EventBridge scheduled event),
    /// which a `fanout` deployment answers with a plan.
    pub fn is_scheduled(event: &serde_json::Value) -> bool {
        event.get("action").is_none()
            && (event.get("detail-type").and_then(|v| v.as_str()) == Some("Scheduled Event")
                || event.get("source").and_then(|v| v.as_str()) == Some("aws.events"))
    }
}

/// The most error entries a summary carries, so its size stays bounded
/// however many accounts fail.
pub const MAX_SUMMARY_ERRORS: usize = 100;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountError {
    pub account_id: String,
    pub error: String,
}

/// What a run did. Never carries a token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub action: &'static str,
    pub dry_run: bool,
    pub due: u64,
    pub refreshed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub reauth_required: u64,
    /// Due accounts seen but not started: the deadline was too near to
    /// finish them. The next sweep takes them.
    pub left: u64,
    pub errors: Vec<AccountError>,
}

impl Summary {
    pub(super) fn new(action: &'static str, dry_run: bool) -> Self {
        Self {
            action,
            dry_run,
            due: 0,
            refreshed: 0,
            skipped: 0,
            failed: 0,
            reauth_required: 0,
            left: 0,
            errors: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, account_id: String, error: String) {
        if self.errors.len() < MAX_SUMMARY_ERRORS {
            self.errors.push(AccountError { account_id, error });
        }
    }

    /// A due-index page that could not be read.
    pub(super) fn shard_error(&mut self, shard: u32, e: &StoreError) {
        self.error(format!("due-shard-{shard}"), chain_line(e));
    }

    /// Its counts as metrics, by `Operation` (its action).
    pub(super) fn count_metrics(&self) {
        crate::support::metrics::count(
            ("Operation", self.action),
            &[
                ("Due", self.due),
                ("Refreshed", self.refreshed),
                ("RefreshSkipped", self.skipped),
                ("RefreshFailed", self.failed),
                ("ReauthRequired", self.reauth_required),
                ("RefreshLeft", self.left),
            ],
        );
    }

    /// One INFO line with its counts (never a token: it holds none).
    pub(super) fn log_finished(&self) {
        tracing::info!(
            due = self.due,
            refreshed = self.refreshed,
            skipped = self.skipped,
            failed = self.failed,
            reauth_required = self.reauth_required,
            left = self.left,
            "{} finished",
            self.action
        );
    }

    pub(super) fn record(&mut self, id: &AccountId, outcome: Outcome) {
        match outcome {
            Outcome::Refreshed => self.refreshed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed(error) => {
                self.failed += 1;
                self.error(id.to_string(), error);
            }
            Outcome::ReauthRequired(reason) => {
                self.reauth_required += 1;
                self.error(id.to_string(), reason);
            }
            Outcome::Left => self.left += 1,
        }
    }
}

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    /// Not ours to refresh now: leased elsewhere, no longer due, not active,
    /// or another writer stored newer tokens first.
    Skipped,
    /// Transient or unexpected; the account stays active for the next sweep.
    Failed(String),
    ReauthRequired(String),
    /// Not started: the deadline was too near to finish it.
    Left,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_events() {
        let scheduled = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "1", "time": "2026-11-23T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(
            Command::from_event(&scheduled).unwrap(),
            Command::Sweep { dry_run: false }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "sweep", "dry_run": true})).unwrap(),
            Command::Sweep { dry_run: true }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "refresh", "account_id": "a"})).unwrap(),
            Command::Refresh {
                account_id: "a".into(),
                dry_run: false
            }
        );
        assert_eq!(
            Command::from_event(&json!({"action": "cleanup"})).unwrap(),
            Command::Cleanup
        );
        assert!(Command::from_event(&json!({"action": "explode"})).is_err());
        assert!(Command::from_event(&json!({"action": "refresh"})).is_err());
        assert!(Command::from_event(&json!({"hello": 1})).is_err());
    }

    #[test]
    fn summary_errors_are_bounded() {
        let mut s = Summary::new("sweep", false);
        let id = AccountId::parse("a").unwrap();
        for _ in 0..(MAX_SUMMARY_ERRORS + 50) {
            s.record(&id, Outcome::Failed("x".into()));
        }
        assert_eq!(s.failed as usize, MAX_SUMMARY_ERRORS + 50);
        assert_eq!(s.errors.len(), MAX_SUMMARY_ERRORS);
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "action",
            "dry_run",
            "due",
            "refreshed",
            "skipped",
            "failed",
            "reauth_required",
            "left",
            "errors",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
