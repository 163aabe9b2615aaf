//! The account: its states, its scopes, what the API shows of it, and what
//! a connect does to an existing one.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    ids::{AccountId, InvalidId, UserId},
    schedule,
    secrets::SealedTokens,
    time::rfc3339,
};

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// When the user granted the tokens held now (the latest connect):
    /// TikTok's events about an older grant do not act on this one.
    pub granted_at: DateTime<Utc>,
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
        Some(schedule::due_at(issued, self.access_expires_at).min(self.refresh_expires_at))
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

/// Accounts for the tests of every layer.
#[cfg(test)]
pub(crate) mod sample {
    use chrono::Utc;

    use super::*;

    /// `open-1`, owned by `owner`, in `status`, with `scopes`, every time
    /// now, version 1, without tokens.
    pub fn account(owner: &str, status: AccountStatus, scopes: &str) -> Account {
        let now = Utc::now();
        Account {
            id: AccountId::parse("open-1").unwrap(),
            owner: UserId::parse(owner).unwrap(),
            profile: Profile {
                display_name: "n".into(),
                avatar_url: None,
            },
            status,
            scopes: Scopes::parse(scopes).unwrap(),
            access_expires_at: now,
            refresh_expires_at: now,
            last_refreshed_at: None,
            last_error: None,
            connected_at: now,
            granted_at: now,
            token_version: 1,
            sealed_tokens: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(owner: &str, status: AccountStatus) -> Account {
        Account {
            token_version: 7,
            ..sample::account(owner, status, "user.info.basic")
        }
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
