//! The account domain: identifiers that parse, the account's states, the
//! refresh schedule computed when tokens are written, and what a connect
//! does to an existing account.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

use crate::tokens::SealedTokens;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidId {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("{0} contains characters that are not allowed")]
    BadCharacters(&'static str),
}

/// A connected TikTok account, identified by TikTok's `open_id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// `open_id`s are opaque; we accept 1–128 URL-safe characters, which
    /// covers every documented and observed form (UUIDs, `-000…` ids).
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidId::Empty("account_id"));
        }
        if value.len() > 128 {
            return Err(InvalidId::TooLong("account_id"));
        }
        let ok = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !ok {
            return Err(InvalidId::BadCharacters("account_id"));
        }
        Ok(Self(value))
    }
}

impl AsRef<str> for AccountId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of our users: the JWT `sub` of the caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(InvalidId::Empty("user id"));
        }
        if value.len() > 256 {
            return Err(InvalidId::TooLong("user id"));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidId::BadCharacters("user id"));
        }
        Ok(Self(value))
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What we can say about an account's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    ReauthRequired,
    Disconnected,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReauthRequired => "reauth_required",
            Self::Disconnected => "disconnected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "reauth_required" => Some(Self::ReauthRequired),
            "disconnected" => Some(Self::Disconnected),
            _ => None,
        }
    }
}

/// A comma-separated list of OAuth scopes, as TikTok writes them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Splits on commas, trims, drops empties and duplicates, keeps order.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let mut scopes: Vec<String> = Vec::new();
        for scope in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !scope
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(InvalidId::BadCharacters("scope"));
            }
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        if scopes.is_empty() {
            return Err(InvalidId::Empty("scope"));
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// The public face of a TikTok account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// A stored account. `sealed_tokens` is absent once disconnected.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: AccountId,
    pub owner: UserId,
    pub profile: Profile,
    pub status: AccountStatus,
    pub scopes: Scopes,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub token_version: u64,
    pub sealed_tokens: Option<SealedTokens>,
}

/// An account as the API shows it: never a token.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub status: AccountStatus,
    pub scopes: Vec<String>,
    pub access_expires_at: String,
    pub refresh_expires_at: String,
    pub last_refreshed_at: Option<String>,
    pub last_error: Option<String>,
    pub connected_at: String,
}

/// RFC 3339 UTC with millisecond precision: the one time format we emit.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Account {
    /// When the sweep should next refresh this account, or `None` when the
    /// sweep should leave it alone (not active, or no tokens). Never later
    /// than the refresh token's own expiry, so an account whose refresh
    /// token dies is seen (and flagged) then.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        if self.status != AccountStatus::Active || self.sealed_tokens.is_none() {
            return None;
        }
        let issued = self.last_refreshed_at.unwrap_or(self.connected_at);
        Some(due_at(issued, self.access_expires_at).min(self.refresh_expires_at))
    }

    /// The account with its tokens erased and marked `disconnected`, as the
    /// next version (write it with a compare-and-swap on the current one).
    pub fn disconnected(self) -> Account {
        Account {
            status: AccountStatus::Disconnected,
            sealed_tokens: None,
            last_error: None,
            token_version: self.token_version + 1,
            ..self
        }
    }

    pub fn view(&self) -> AccountView {
        AccountView {
            account_id: self.id.to_string(),
            display_name: self.profile.display_name.clone(),
            avatar_url: self.profile.avatar_url.clone(),
            status: self.status,
            scopes: self.scopes.iter().map(str::to_owned).collect(),
            access_expires_at: rfc3339(self.access_expires_at),
            refresh_expires_at: rfc3339(self.refresh_expires_at),
            last_refreshed_at: self.last_refreshed_at.map(rfc3339),
            last_error: self.last_error.clone(),
            connected_at: rfc3339(self.connected_at),
        }
    }
}

/// How many partitions the sparse `due` index spreads accounts over, so that
/// no one partition runs hot. Part of the stored data: changing it needs a
/// backfill of `due_shard`.
pub const DUE_SHARDS: u32 = 16;

/// The sweep runs every 30 minutes; an account becomes due early enough that
/// at least two sweeps see it before its access token expires, plus a margin
/// for a sweep that runs long.
pub const SWEEP_INTERVAL: Duration = Duration::minutes(30);
pub const SWEEPS_BEFORE_EXPIRY: i32 = 2;
pub const DUE_MARGIN: Duration = Duration::minutes(15);

/// When the sweep should refresh an account whose access token expires at
/// `access_expires_at`: never before `issued_at`.
pub fn due_at(issued_at: DateTime<Utc>, access_expires_at: DateTime<Utc>) -> DateTime<Utc> {
    let lead = SWEEP_INTERVAL * SWEEPS_BEFORE_EXPIRY + DUE_MARGIN;
    (access_expires_at - lead).max(issued_at)
}

/// The due-index partition an account lives in: a stable FNV-1a hash.
pub fn due_shard(account: &AccountId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in account.as_ref().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

/// What connecting an account means given what is already stored.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectAction {
    /// Nobody has connected it: create it.
    Create,
    /// The same user connects it again (or revives a disconnected one it
    /// owned): replace the tokens, compare-and-swap on `expected_version`.
    Reconnect { expected_version: u64 },
    /// Another user owned it but it is disconnected: the new user takes it
    /// over, compare-and-swap on `expected_version`.
    Claim { expected_version: u64 },
    /// Another user has it connected: refuse, and leave it untouched.
    Refuse,
}

/// Decides what a connect by `user` does to the stored account, if any.
///
/// An account belongs to one user at a time. While it is connected
/// (`active` or `reauth_required`) under another user, a second user's
/// connect is refused, so nobody can silently take over another tenant's
/// account. Once its owner has disconnected it, anyone the TikTok user
/// authorises may connect it.
pub fn connect_action(existing: Option<&Account>, user: &UserId) -> ConnectAction {
    match existing {
        None => ConnectAction::Create,
        Some(account) if &account.owner == user => ConnectAction::Reconnect {
            expected_version: account.token_version,
        },
        Some(account) if account.status == AccountStatus::Disconnected => ConnectAction::Claim {
            expected_version: account.token_version,
        },
        Some(_) => ConnectAction::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(owner: &str, status: AccountStatus) -> Account {
        let now = Utc::now();
        Account {
            id: AccountId::parse("open-1").unwrap(),
            owner: UserId::parse(owner).unwrap(),
            profile: Profile {
                display_name: "n".into(),
                avatar_url: None,
            },
            status,
            scopes: Scopes::parse("user.info.basic").unwrap(),
            access_expires_at: now,
            refresh_expires_at: now,
            last_refreshed_at: None,
            last_error: None,
            connected_at: now,
            token_version: 7,
            sealed_tokens: None,
        }
    }

    #[test]
    fn account_ids_parse() {
        assert!(AccountId::parse("afd97af1-b87b-48b9-ac98-410aghda5344").is_ok());
        assert!(AccountId::parse("-000YSS_OTWKQzsQ-Q6fwsK_A1CTqKopVfCO").is_ok());
        assert_eq!(AccountId::parse(""), Err(InvalidId::Empty("account_id")));
        assert_eq!(
            AccountId::parse("a#b"),
            Err(InvalidId::BadCharacters("account_id"))
        );
        assert_eq!(
            AccountId::parse("a".repeat(129)),
            Err(InvalidId::TooLong("account_id"))
        );
    }

    #[test]
    fn user_ids_parse() {
        assert!(UserId::parse("user-1").is_ok());
        assert!(UserId::parse("  ").is_err());
        assert!(UserId::parse("a\u{0}b").is_err());
    }

    #[test]
    fn scopes_parse_trim_and_dedupe() {
        let s = Scopes::parse(" user.info.basic,video.upload,,video.upload ").unwrap();
        assert_eq!(s.to_string(), "user.info.basic,video.upload");
        assert!(s.contains("video.upload"));
        assert!(!s.contains("video.publish"));
        assert!(Scopes::parse(",").is_err());
        assert!(Scopes::parse("a b").is_err());
    }

    #[test]
    fn due_time_leaves_two_sweeps_for_both_documented_lifetimes() {
        let issued = Utc::now();
        for lifetime in [Duration::hours(2), Duration::hours(24)] {
            let expires = issued + lifetime;
            let due = due_at(issued, expires);
            // The worst case: a sweep ran just before `due`; the next two
            // sweeps run at most one and two intervals after it.
            let second_sweep = due + SWEEP_INTERVAL * 2;
            assert!(second_sweep < expires, "lifetime {lifetime}");
            assert!(due >= issued);
        }
        // A lifetime shorter than the lead makes the account due at once.
        assert_eq!(due_at(issued, issued + Duration::minutes(10)), issued);
    }

    #[test]
    fn due_shards_are_stable_and_spread() {
        let id = AccountId::parse("open-42").unwrap();
        assert_eq!(due_shard(&id), due_shard(&id));
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let shard = due_shard(&AccountId::parse(format!("open-{i}")).unwrap());
            assert!(shard < DUE_SHARDS);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), DUE_SHARDS as usize);
    }

    #[test]
    fn connect_actions() {
        let alice = UserId::parse("alice").unwrap();
        assert_eq!(connect_action(None, &alice), ConnectAction::Create);
        let mine = account("alice", AccountStatus::ReauthRequired);
        assert_eq!(
            connect_action(Some(&mine), &alice),
            ConnectAction::Reconnect {
                expected_version: 7
            }
        );
        let theirs = account("bob", AccountStatus::Active);
        assert_eq!(connect_action(Some(&theirs), &alice), ConnectAction::Refuse);
        let theirs = account("bob", AccountStatus::ReauthRequired);
        assert_eq!(connect_action(Some(&theirs), &alice), ConnectAction::Refuse);
        let released = account("bob", AccountStatus::Disconnected);
        assert_eq!(
            connect_action(Some(&released), &alice),
            ConnectAction::Claim {
                expected_version: 7
            }
        );
    }

    #[test]
    fn view_never_carries_tokens() {
        let mut a = account("alice", AccountStatus::Active);
        a.sealed_tokens = Some(SealedTokens::from_bytes(b"ciphertext".to_vec()));
        let json = serde_json::to_value(a.view()).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "access_expires_at",
                "account_id",
                "avatar_url",
                "connected_at",
                "display_name",
                "last_error",
                "last_refreshed_at",
                "refresh_expires_at",
                "scopes",
                "status"
            ]
        );
    }
}
