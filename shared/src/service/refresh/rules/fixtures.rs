//! What the rules' tests are about: an account, a grant, TikTok's and the
//! store's failures.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};

use crate::domain::{
    account::{Account, AccountStatus, Profile, Scopes},
    ids::{AccountId, UserId},
    ports::StoreError,
    secrets::{AccessToken, RefreshToken, SealedTokens, TokenSet},
    tiktok::{TikTokError, TokenGrant},
};

pub fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

pub fn id() -> AccountId {
    AccountId::parse("open-1").unwrap()
}

pub fn account(refresh_expires_in: Span, sealed: bool) -> Account {
    Account {
        id: id(),
        owner: UserId::parse("alice").unwrap(),
        profile: Profile {
            display_name: "n".into(),
            avatar_url: None,
        },
        status: AccountStatus::Active,
        scopes: Scopes::parse("user.info.basic").unwrap(),
        access_expires_at: now() + Span::minutes(10),
        refresh_expires_at: now() + refresh_expires_in,
        last_refreshed_at: None,
        last_error: Some("old".into()),
        connected_at: now() - Span::days(1),
        granted_at: now() - Span::days(1),
        token_version: 4,
        sealed_tokens: sealed.then(|| SealedTokens::from_bytes(vec![1, 2])),
    }
}

pub fn grant(open_id: &str, refresh_expires_in: Span) -> TokenGrant {
    TokenGrant {
        open_id: AccountId::parse(open_id).unwrap(),
        tokens: TokenSet {
            access: AccessToken::parse("act.new").unwrap(),
            refresh: RefreshToken::parse("rft.new").unwrap(),
        },
        scopes: Scopes::parse("user.info.basic,video.upload").unwrap(),
        access_expires_at: now() + Span::hours(2),
        refresh_expires_at: now() + refresh_expires_in,
    }
}

pub fn oauth(status: u16, code: &str, description: &str) -> TikTokError {
    TikTokError::OAuth {
        status,
        code: code.into(),
        description: description.into(),
        log_id: None,
    }
}

pub fn unavailable() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("DynamoDB is down"))
}
