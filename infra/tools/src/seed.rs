//! Connected accounts written straight to the store, holding tokens the
//! TikTok sandbox issued: what tests and benchmarks start from.

use anyhow::{Context, anyhow};
use chrono::{Duration, Utc};
use shared::{
    adapters::{kms::KmsSealer, store::Store},
    domain::{
        account::{Account, AccountStatus, Profile, Scopes},
        ids::{AccountId, UserId},
        ports::{AccountStore, TokenSealer},
        secrets::{AccessToken, RefreshToken, TokenSet},
    },
};

/// Every scope the product asks for.
pub const ALL_SCOPES: &str =
    "user.info.basic,user.info.stats,video.list,video.upload,video.publish";

/// How a seeded account's tokens stand.
#[derive(Clone, Copy, Debug)]
pub enum Freshness {
    /// Connected an hour ago, its access token expiring in ten minutes:
    /// due for the sweep now.
    Due,
    /// Refreshed just now, with TikTok's newest lifetimes (2 hours, 180
    /// days): not due.
    Fresh,
}

/// The tokens of a grant, from the raw strings the sandbox issued.
pub fn tokens(access: &str, refresh: &str) -> anyhow::Result<TokenSet> {
    Ok(TokenSet {
        access: AccessToken::parse(access)?,
        refresh: RefreshToken::parse(refresh)?,
    })
}

/// A grant from a sandbox running as its own process (its
/// `POST /sandbox/grants`).
pub async fn sandbox_grant(
    http: &reqwest::Client,
    sandbox_url: &str,
    open_id: &str,
    scopes: &str,
) -> anyhow::Result<TokenSet> {
    let grant: serde_json::Value = http
        .post(format!("{sandbox_url}/sandbox/grants"))
        .json(&serde_json::json!({"open_id": open_id, "scope": scopes}))
        .send()
        .await?
        .json()
        .await
        .context("the sandbox's grant")?;
    let field = |k: &str| {
        grant[k]
            .as_str()
            .ok_or_else(|| anyhow!("grant without {k}"))
    };
    tokens(field("access_token")?, field("refresh_token")?)
}

/// Seals `tokens` for `open_id` and writes an active account owned by
/// `owner` with `scopes`, its expiries set by `freshness`.
pub async fn account(
    store: &Store,
    sealer: &KmsSealer,
    open_id: &str,
    owner: &str,
    scopes: &str,
    tokens: &TokenSet,
    freshness: Freshness,
) -> anyhow::Result<Account> {
    let id = AccountId::parse(open_id)?;
    let now = Utc::now();
    let (access_expires_at, refresh_expires_at, last_refreshed_at, connected_at) = match freshness {
        Freshness::Due => (
            now + Duration::minutes(10),
            now + Duration::days(100),
            None,
            now - Duration::hours(1),
        ),
        Freshness::Fresh => (
            now + Duration::hours(2),
            now + Duration::days(180),
            Some(now),
            now,
        ),
    };
    let account = Account {
        sealed_tokens: Some(sealer.seal(&id, tokens).await?),
        id,
        owner: UserId::parse(owner)?,
        profile: Profile {
            display_name: format!("Seeded {open_id}"),
            avatar_url: None,
        },
        status: AccountStatus::Active,
        scopes: Scopes::parse(scopes)?,
        access_expires_at,
        refresh_expires_at,
        last_refreshed_at,
        last_error: None,
        connected_at,
        granted_at: connected_at,
        token_version: 1,
    };
    store.put_account(&account, None).await?;
    Ok(account)
}
