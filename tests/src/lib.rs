//! The test harness: `spawn_app` gives each test its own table, KMS key,
//! bucket and TikTok sandbox on the local emulator, and builds the functions
//! through the same `shared::startup` as their `main.rs`.

pub mod events;
pub mod logs;
pub mod provision;
pub mod template;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Response};
use shared::{
    config::Env,
    oauth::{OAuthCallback, OAuthStart},
};
use tiktok_sandbox::{RunningSandbox, SandboxConfig};
use url::Url;

pub use provision::{Clients, Provisioned};

/// The moto server the tests use: `AWS_ENDPOINT_URL`, or the local stack's.
pub fn aws_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

pub const REDIRECT_URI: &str = "https://api.example.test/oauth/tiktok/callback";
pub const RETURN_URL: &str = "https://app.example.test/accounts";

/// The environment a function would see, pointed at the emulator and sandbox.
pub fn base_env(p: &Provisioned, sandbox: &RunningSandbox, sandbox_config: &SandboxConfig) -> Env {
    Env::from_pairs([
        ("AWS_ENDPOINT_URL", aws_endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("TABLE_NAME", p.table.clone()),
        ("TOKEN_KEY_ID", p.key_id.clone()),
        ("UPLOAD_BUCKET", p.bucket.clone()),
        ("TIKTOK_CLIENT_KEY", sandbox_config.client_key.clone()),
        ("TIKTOK_CLIENT_SECRET", sandbox_config.client_secret.clone()),
        ("TIKTOK_AUTH_URL", sandbox.auth_url().to_string()),
        ("TIKTOK_API_BASE_URL", sandbox.base_url().to_string()),
        ("TIKTOK_TIMEOUT_SECONDS", "2".into()),
        ("OAUTH_REDIRECT_URI", REDIRECT_URI.into()),
        ("APP_RETURN_URL", RETURN_URL.into()),
    ])
}

pub struct TestApp {
    pub env: Env,
    pub provisioned: Provisioned,
    pub clients: Clients,
    pub sandbox: RunningSandbox,
    pub start: OAuthStart,
    pub callback: OAuthCallback,
    browser: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a chance to change the functions' environment.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Env)) -> TestApp {
    let admin_env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", aws_endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ]);
    let sdk = shared::aws::load(&admin_env).await;
    let clients = Clients::new(&sdk);
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let provisioned = provision::provision(&clients, &prefix).await.expect(
        "provisioning on moto: is the local emulator running? (infra/local/test.sh starts it)",
    );

    let sandbox_config = SandboxConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..SandboxConfig::default()
    };
    let sandbox =
        tiktok_sandbox::spawn(sandbox_config.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sandbox starts");
    let mut env = base_env(&provisioned, &sandbox, &sandbox_config);
    customize(&mut env);
    let start = shared::startup::oauth_start(&env)
        .await
        .expect("oauth-start builds");
    let callback = shared::startup::oauth_callback(&env)
        .await
        .expect("oauth-callback builds");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        env,
        provisioned,
        clients,
        sandbox,
        start,
        callback,
        browser,
    }
}

/// A response's body as text.
pub fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

pub fn location(response: &Response<Body>) -> Url {
    let raw = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header");
    Url::parse(raw).expect("an absolute Location")
}

pub fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

impl TestApp {
    /// `GET /oauth/tiktok/start` as `user`.
    pub async fn start_oauth(&self, user: Option<&str>) -> Response<Body> {
        let event = events::http_event("GET", "/oauth/tiktok/start", &[], user);
        oauth_start::handle(&self.start, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    /// The authorize URL `user` gets from start.
    pub async fn authorize_url(&self, user: &str) -> Url {
        let response = self.start_oauth(Some(user)).await;
        assert_eq!(response.status(), 200, "{}", body_text(&response));
        let body: serde_json::Value = serde_json::from_str(&body_text(&response)).expect("json");
        Url::parse(body["authorize_url"].as_str().expect("authorize_url")).expect("url")
    }

    /// The browser at TikTok's authorize page: `extra` plays the user's
    /// choices (`sandbox_user`, `sandbox_decision`). Returns where TikTok
    /// redirects the browser: our callback URL with its query.
    pub async fn visit_tiktok(&self, authorize_url: &Url, extra: &[(&str, &str)]) -> Url {
        let mut url = authorize_url.clone();
        url.query_pairs_mut().extend_pairs(extra);
        let response = self
            .browser
            .get(url)
            .send()
            .await
            .expect("sandbox reachable");
        assert_eq!(
            response.status(),
            302,
            "authorize page answered {}",
            response.status()
        );
        let location = response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned();
        Url::parse(&location).expect("callback URL")
    }

    /// `GET /oauth/tiktok/callback` with the query TikTok redirected with.
    pub async fn callback_with(&self, query: &[(String, String)]) -> Response<Body> {
        let event = events::http_event("GET", "/oauth/tiktok/callback", query, None);
        oauth_callback::handle(&self.callback, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    pub async fn follow_callback(&self, callback_url: &Url) -> Response<Body> {
        let query: Vec<(String, String)> = callback_url.query_pairs().into_owned().collect();
        self.callback_with(&query).await
    }

    /// The whole dance for `user` as TikTok user `open_id`. Returns the
    /// query of the app URL the browser lands on.
    pub async fn connect(&self, user: &str, open_id: &str) -> HashMap<String, String> {
        let authorize = self.authorize_url(user).await;
        let callback = self
            .visit_tiktok(&authorize, &[("sandbox_user", open_id)])
            .await;
        let response = self.follow_callback(&callback).await;
        assert_eq!(response.status(), 302);
        query_of(&location(&response))
    }

    /// The raw account item.
    pub async fn account_item(&self, open_id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.clients
            .dynamodb
            .get_item()
            .table_name(&self.provisioned.table)
            .key("pk", AttributeValue::S(format!("ACCOUNT#{open_id}")))
            .key("sk", AttributeValue::S("ACCOUNT".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Every item in the test's own table (tests only; the code never scans).
    pub async fn all_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.clients
            .dynamodb
            .scan()
            .table_name(&self.provisioned.table)
            .send()
            .await
            .expect("Scan")
            .items
            .unwrap_or_default()
    }
}
