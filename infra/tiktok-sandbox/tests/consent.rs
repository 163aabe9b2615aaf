//! The authorize page as a browser sees it: a consent page first (the
//! person picks the TikTok user and decides), while programs that name
//! their decision are answered at once, as before.

use tiktok_sandbox::{RunningSandbox, SandboxConfig, spawn};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:1/callback";

async fn sandbox() -> RunningSandbox {
    let config = SandboxConfig {
        redirect_uris: vec![REDIRECT.into()],
        ..SandboxConfig::default()
    };
    spawn(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox starts")
}

fn authorize_url(sandbox: &RunningSandbox, extra: &[(&str, &str)]) -> Url {
    let mut url = sandbox
        .base_url()
        .join("/v2/auth/authorize/")
        .expect("path");
    url.query_pairs_mut()
        .append_pair("client_key", &SandboxConfig::default().client_key)
        .append_pair("response_type", "code")
        .append_pair("scope", "user.info.basic,video.publish")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "st<ate>\"1")
        .extend_pairs(extra);
    url
}

/// A browser's visit (it asks for HTML), not following the redirect.
async fn visit(url: Url) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_browser_gets_a_consent_page_that_sends_the_decision_back() {
    let sandbox = sandbox().await;
    let response = visit(authorize_url(&sandbox, &[])).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("body");
    assert!(page.contains("<code>video.publish</code>"), "{page}");
    assert!(page.contains(r#"name="sandbox_user""#));
    assert!(page.contains(r#"name="sandbox_decision" value="allow""#));
    assert!(page.contains(r#"name="sandbox_decision" value="deny""#));
    // The request's own parameters ride along, escaped.
    assert!(page.contains(r#"value="st&lt;ate&gt;&quot;1""#), "{page}");
    assert!(!page.contains("st<ate>"));

    // The form's answer: a code for the user the person typed.
    let decided = authorize_url(
        &sandbox,
        &[("sandbox_user", "tt-picked"), ("sandbox_decision", "allow")],
    );
    let response = visit(decided).await;
    assert_eq!(response.status(), 302);
    let location = Url::parse(
        response.headers()["location"]
            .to_str()
            .expect("location is text"),
    )
    .expect("a URL");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert!(query.contains_key("code"), "{location}");
    assert_eq!(query["state"], "st<ate>\"1");

    // Deny from the page.
    let denied = authorize_url(
        &sandbox,
        &[("sandbox_user", ""), ("sandbox_decision", "deny")],
    );
    let response = visit(denied).await;
    let location = response.headers()["location"].to_str().expect("text");
    assert!(location.contains("error=access_denied"), "{location}");
}

#[tokio::test]
async fn a_program_is_answered_at_once() {
    let sandbox = sandbox().await;
    // No Accept: text/html, as reqwest and curl send.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(authorize_url(&sandbox, &[]))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("text");
    assert!(
        location.starts_with(REDIRECT) && location.contains("code="),
        "{location}"
    );
}
