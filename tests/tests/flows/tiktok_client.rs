//! The TikTok client against the sandbox: request shapes the sandbox
//! enforces (form encoding, `client_key`, exact `redirect_uri`), strict
//! refresh-token rotation, revoke, and the mapping of TikTok's errors.

use chrono::Utc;
use harness::{REDIRECT_URI, query_of, spawn_app};
use shared::{
    adapters::tiktok::{
        client::{TikTokClient, http_client},
        settings::TikTokSettings,
    },
    domain::{ports::TokenEndpoint, secrets::AuthCode, tiktok::TikTokError},
    env::Env,
};
use tiktok_sandbox::{Fault, FaultKind};
use url::Url;

fn client(env: &Env) -> TikTokClient {
    let settings = TikTokSettings::from_env(env).unwrap();
    TikTokClient::new(http_client(&settings).unwrap(), &settings)
}

/// A fresh authorization code for TikTok user `open_id`.
async fn code_for(app: &harness::TestApp, open_id: &str) -> AuthCode {
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", open_id)])
        .await;
    AuthCode::parse(query_of(&callback)["code"].clone()).unwrap()
}

#[tokio::test]
async fn exchange_refresh_with_strict_rotation_then_revoke() {
    let app = spawn_app().await;
    let tiktok = client(&app.env);
    let redirect = Url::parse(REDIRECT_URI).unwrap();
    let now = Utc::now();

    let code = code_for(&app, "tt-client-1").await;
    let grant = tiktok.exchange_code(&code, &redirect, now).await.unwrap();
    assert_eq!(grant.open_id.as_ref(), "tt-client-1");
    assert_eq!((grant.access_expires_at - now).num_seconds(), 7200);

    // A code is single use.
    let again = tiktok
        .exchange_code(&code, &redirect, now)
        .await
        .unwrap_err();
    assert!(again.is_invalid_grant(), "{again:?}");

    let info = tiktok.user_info(&grant.tokens.access).await.unwrap();
    assert_eq!(info.open_id, grant.open_id);
    assert!(!info.profile.display_name.is_empty());

    // Rotation: the new refresh token works, the old one is dead.
    let rotated = tiktok.refresh(&grant.tokens.refresh, now).await.unwrap();
    assert_ne!(
        rotated.tokens.refresh.expose(),
        grant.tokens.refresh.expose()
    );
    let stale = tiktok
        .refresh(&grant.tokens.refresh, now)
        .await
        .unwrap_err();
    assert!(
        stale.is_invalid_grant() && !stale.is_transient(),
        "{stale:?}"
    );
    let next = tiktok.refresh(&rotated.tokens.refresh, now).await.unwrap();
    // Refresh does not extend the refresh token's own lifetime.
    assert!(next.refresh_expires_at <= grant.refresh_expires_at + chrono::Duration::seconds(2));

    // Revoke ends the grant: the access token and refresh token stop working.
    tiktok.revoke(&next.tokens.access).await.unwrap();
    let err = tiktok.user_info(&next.tokens.access).await.unwrap_err();
    assert!(
        matches!(&err, TikTokError::Api { status: 401, code, .. } if code == "access_token_invalid"),
        "{err:?}"
    );
    assert!(
        tiktok
            .refresh(&next.tokens.refresh, now)
            .await
            .unwrap_err()
            .is_invalid_grant()
    );
    assert!(!app.sandbox.has_live_grant("tt-client-1"));
}

#[tokio::test]
async fn a_redirect_uri_that_does_not_match_is_refused() {
    let app = spawn_app().await;
    let code = code_for(&app, "tt-client-2").await;
    let other = Url::parse("https://api.example.test/other/callback").unwrap();
    let err = client(&app.env)
        .exchange_code(&code, &other, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TikTokError::OAuth { code, .. } if code == "invalid_request"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let app = spawn_app().await;
    let mut env = app.env.clone();
    env.set("TIKTOK_CLIENT_SECRET", "not-the-secret");
    let code = code_for(&app, "tt-client-3").await;
    let err = client(&env)
        .exchange_code(&code, &Url::parse(REDIRECT_URI).unwrap(), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TikTokError::OAuth { status: 401, code, .. } if code == "invalid_client"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-secret"));
}

/// An answer that never ends is refused once it passes the cap, while it
/// streams: the call ends with "body too large", not at its timeout.
#[tokio::test]
async fn an_answer_that_never_ends_is_refused_at_the_cap() {
    let app = spawn_app().await;
    let mut env = app.env.clone();
    env.set("TIKTOK_TIMEOUT_SECONDS", "30");
    let tiktok = client(&env);
    let code = code_for(&app, "tt-client-5").await;
    let grant = tiktok
        .exchange_code(&code, &Url::parse(REDIRECT_URI).unwrap(), Utc::now())
        .await
        .unwrap();
    for path in ["/v2/oauth/token/", "/v2/user/info/"] {
        app.sandbox.add_fault(Fault {
            path_prefix: path.into(),
            kind: FaultKind::Endless,
            count: 1,
            rate: 0.0,
            after: 0,
        });
    }
    let refused = tiktok
        .refresh(&grant.tokens.refresh, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, TikTokError::Malformed { reason, .. } if reason == "body too large"),
        "{refused:?}"
    );
    let refused = tiktok.user_info(&grant.tokens.access).await.unwrap_err();
    assert!(
        matches!(&refused, TikTokError::Malformed { reason, .. } if reason == "body too large"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn faults_are_classified_transient() {
    let app = spawn_app().await;
    let mut env = app.env.clone();
    env.set("TIKTOK_TIMEOUT_SECONDS", "1");
    let tiktok = client(&env);
    let code = code_for(&app, "tt-client-4").await;
    let grant = tiktok
        .exchange_code(&code, &Url::parse(REDIRECT_URI).unwrap(), Utc::now())
        .await
        .unwrap();
    for (kind, expect) in [
        (FaultKind::Status(500), "server_error"),
        (FaultKind::Status(503), "server_error"),
        (FaultKind::RateLimited, "rate_limit_exceeded"),
        (FaultKind::Timeout, "timeout"),
    ] {
        app.sandbox.add_fault(Fault {
            path_prefix: "/v2/oauth/token/".into(),
            kind,
            count: 1,
            rate: 0.0,
            after: 0,
        });
        let err = tiktok
            .refresh(&grant.tokens.refresh, Utc::now())
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{kind:?}: {err:?}");
        assert_eq!(err.code(), expect);
    }
    // A malformed 200 is not transient: retrying would not help.
    app.sandbox.add_fault(Fault {
        path_prefix: "/v2/user/info/".into(),
        kind: FaultKind::Malformed,
        count: 1,
        rate: 0.0,
        after: 0,
    });
    let err = tiktok.user_info(&grant.tokens.access).await.unwrap_err();
    assert_eq!(err.code(), "malformed_response");
    // The refresh token was never consumed by the faulted calls.
    assert!(
        tiktok
            .refresh(&grant.tokens.refresh, Utc::now())
            .await
            .is_ok()
    );
}
