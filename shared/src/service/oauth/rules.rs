//! The callback's parameters, and the connect's decisions as pure
//! functions: whether a callback may keep its code for a ticket, what
//! account a connect writes over the stored one, and where the browser goes
//! after the callback.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use url::Url;

use super::errors::{CallbackError, CompleteError};
use crate::{
    adapters::{store::states::StateRecord, tiktok::oauth::UserInfo},
    domain::{
        account::{Account, AccountStatus, ConnectAction, connect_action},
        ids::UserId,
        secrets::{AuthCode, ConnectTicket, OAuthState, SealedTokens},
        tiktok::TokenGrant,
    },
};

/// The callback's query, as TikTok sends it: `code`, `scopes`, `state`, or
/// `error` and `error_description`.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub(super) state: Option<OAuthState>,
    code: Option<AuthCode>,
    error: Option<String>,
}

impl CallbackParams {
    /// Values that are not even well-formed count as absent: a malformed
    /// state is as good as a forged one.
    pub fn from_query(query: &HashMap<String, String>) -> Self {
        Self {
            state: query
                .get("state")
                .and_then(|s| OAuthState::parse(s.as_str()).ok()),
            code: query
                .get("code")
                .and_then(|c| AuthCode::parse(c.as_str()).ok()),
            error: query
                .get("error")
                .filter(|e| !e.is_empty())
                .map(|e| e.chars().take(64).collect()),
        }
    }
}

/// What a consumed state and TikTok's answer allow: the code to keep for
/// the connect, or why not. The state was valid until `record.expires_at`.
pub fn code_to_exchange(
    record: &StateRecord,
    params: CallbackParams,
    now: DateTime<Utc>,
) -> Result<AuthCode, CallbackError> {
    if record.expires_at <= now {
        return Err(CallbackError::StateExpired);
    }
    if let Some(error) = params.error {
        return Err(if error == "access_denied" {
            CallbackError::AccessDenied
        } else {
            CallbackError::AuthorizationFailed(error)
        });
    }
    params.code.ok_or(CallbackError::MissingCode)
}

/// The account a connect by `user` writes over `existing`, and the version
/// its compare-and-swap expects (`None`: it must not exist yet); or
/// `ConnectedElsewhere` when another user has it connected.
pub fn connected_account(
    existing: Option<&Account>,
    user: &UserId,
    grant: &TokenGrant,
    info: &UserInfo,
    sealed: &SealedTokens,
    now: DateTime<Utc>,
) -> Result<(Account, Option<u64>), CompleteError> {
    let (expected_version, connected_at) = match connect_action(existing, user) {
        ConnectAction::Create => (None, now),
        ConnectAction::Reconnect { expected_version } => (
            Some(expected_version),
            existing.map_or(now, |a| a.connected_at),
        ),
        ConnectAction::Claim { expected_version } => (Some(expected_version), now),
        ConnectAction::Refuse => return Err(CompleteError::ConnectedElsewhere),
    };
    let account = Account {
        id: grant.open_id.clone(),
        owner: user.clone(),
        profile: info.profile.clone(),
        status: AccountStatus::Active,
        scopes: grant.scopes.clone(),
        access_expires_at: grant.access_expires_at,
        refresh_expires_at: grant.refresh_expires_at,
        last_refreshed_at: None,
        last_error: None,
        connected_at,
        granted_at: now,
        token_version: expected_version.map_or(1, |v| v + 1),
        sealed_tokens: Some(sealed.clone()),
    };
    Ok((account, expected_version))
}

/// Where the browser goes after the callback: `APP_RETURN_URL` with
/// `status=pending&ticket=…` for the signed-in app to finish the connect,
/// or `status=error&reason=…`.
pub fn return_location(return_url: &Url, outcome: &Result<ConnectTicket, CallbackError>) -> Url {
    let mut url = return_url.clone();
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Ok(ticket) => query
                .append_pair("status", "pending")
                .append_pair("ticket", ticket.expose()),
            Err(e) => query
                .append_pair("status", "error")
                .append_pair("reason", e.reason()),
        };
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        account::{Profile, Scopes},
        ids::AccountId,
        secrets::{AccessToken, RefreshToken, TokenSet},
    };
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn record(expires_in: i64) -> StateRecord {
        StateRecord {
            user: UserId::parse("alice").unwrap(),
            created_at: now() - Duration::minutes(1),
            expires_at: now() + Duration::seconds(expires_in),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> CallbackParams {
        CallbackParams::from_query(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn only_a_live_state_with_a_code_and_no_error_exchanges() {
        // (state expires in, query, reason or none)
        type Case<'a> = (i64, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: [Case; 6] = [
            (60, &[("code", "c-1")], None),
            (0, &[("code", "c-1")], Some("state_expired")),
            (-5, &[("error", "access_denied")], Some("state_expired")),
            (60, &[("error", "access_denied")], Some("access_denied")),
            (
                60,
                &[("error", "server_error"), ("code", "c")],
                Some("authorization_failed"),
            ),
            (60, &[("code", "has space")], Some("invalid_request")),
        ];
        for (expires_in, query, reason) in cases {
            let result = code_to_exchange(&record(expires_in), params(query), now());
            assert_eq!(
                result.as_ref().err().map(CallbackError::reason),
                reason,
                "{query:?}"
            );
        }
    }

    fn grant() -> TokenGrant {
        TokenGrant {
            open_id: AccountId::parse("open-1").unwrap(),
            tokens: TokenSet {
                access: AccessToken::parse("act.1").unwrap(),
                refresh: RefreshToken::parse("rft.1").unwrap(),
            },
            scopes: Scopes::parse("user.info.basic").unwrap(),
            access_expires_at: now() + Duration::hours(2),
            refresh_expires_at: now() + Duration::days(180),
        }
    }

    fn stored(owner: &str, status: AccountStatus, version: u64) -> Account {
        let (account, _) = connected_account(
            None,
            &UserId::parse(owner).unwrap(),
            &grant(),
            &info(),
            &SealedTokens::from_bytes(vec![1]),
            now() - Duration::days(3),
        )
        .unwrap();
        Account {
            status,
            token_version: version,
            ..account
        }
    }

    fn info() -> UserInfo {
        UserInfo {
            open_id: AccountId::parse("open-1").unwrap(),
            profile: Profile {
                display_name: "Alice".into(),
                avatar_url: None,
            },
        }
    }

    #[test]
    fn a_connect_creates_reconnects_claims_or_refuses() {
        let alice = UserId::parse("alice").unwrap();
        let sealed = SealedTokens::from_bytes(vec![9]);
        let connect = |existing: Option<&Account>| {
            connected_account(existing, &alice, &grant(), &info(), &sealed, now())
        };
        let (created, expected) = connect(None).unwrap();
        assert_eq!((expected, created.token_version), (None, 1));
        assert_eq!(created.connected_at, now());
        assert_eq!(created.status, AccountStatus::Active);
        assert_eq!(created.sealed_tokens, Some(sealed.clone()));

        // A reconnect keeps when it was first connected.
        let mine = stored("alice", AccountStatus::ReauthRequired, 4);
        let (again, expected) = connect(Some(&mine)).unwrap();
        assert_eq!((expected, again.token_version), (Some(4), 5));
        assert_eq!(again.connected_at, mine.connected_at);
        assert_eq!(again.last_error, None);

        // A disconnected account of another user's is claimed afresh.
        let released = stored("bob", AccountStatus::Disconnected, 7);
        let (claimed, expected) = connect(Some(&released)).unwrap();
        assert_eq!((expected, claimed.token_version), (Some(7), 8));
        assert_eq!(claimed.owner, alice);
        assert_eq!(claimed.connected_at, now());

        for status in [AccountStatus::Active, AccountStatus::ReauthRequired] {
            let theirs = stored("bob", status, 2);
            assert!(matches!(
                connect(Some(&theirs)),
                Err(CompleteError::ConnectedElsewhere)
            ));
        }
    }

    #[test]
    fn the_browser_learns_the_outcome_and_only_its_ticket() {
        let base = Url::parse("https://app.example/accounts").unwrap();
        let ticket = ConnectTicket::parse("t-123").unwrap();
        let pending = return_location(&base, &Ok(ticket));
        assert_eq!(
            pending.as_str(),
            "https://app.example/accounts?status=pending&ticket=t-123"
        );
        let refused = return_location(&base, &Err(CallbackError::AccessDenied));
        assert_eq!(
            refused.as_str(),
            "https://app.example/accounts?status=error&reason=access_denied"
        );
    }
}
