//! The test harness: `spawn_app` gives each test its own table, KMS key,
//! bucket, publish queue and TikTok sandbox on the local emulator, and
//! builds the functions through the same `shared::startup` as their
//! `main.rs`. Provisioning, the fault proxy and seeding come from `tools`.

pub mod events;
pub mod logs;
pub mod posting;
pub mod publishing;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::{StreamExt, stream};
use lambda_http::{Body, Response};
use shared::{
    adapters::{
        aws,
        kms::{KeyId, KmsSealer},
        store::{Store, TableName},
        tiktok::{
            client::{TikTokClient, http_client},
            settings::TikTokSettings,
        },
    },
    domain::{ids::AccountId, ratelimit::RateLimit, schedule::DueShards},
    env::Env,
    service::{
        accounts::Accounts,
        oauth::{callback::OAuthCallback, start::OAuthStart},
        posts::Posts,
        publish::Publisher,
        refresh::Refresher,
        uploads::Uploads,
        webhooks::Webhooks,
    },
    startup::{AnalyticsApi, TokenRefresh},
};
use tiktok_sandbox::{RunningSandbox, SandboxConfig};
use tools::{
    aws_endpoint, aws_proxy, emulator_env, provision,
    seed::{self, Freshness},
};
use url::Url;

pub use tools::{Clients, Provisioned};

pub const REDIRECT_URI: &str = "https://api.example.test/oauth/tiktok/callback";
pub const RETURN_URL: &str = "https://app.example.test/accounts";

/// The environment a function would see, pointed at the emulator (through
/// `aws_url`, the fault proxy) and the sandbox.
pub fn base_env(
    aws_url: &str,
    p: &Provisioned,
    sandbox: &RunningSandbox,
    sandbox_config: &SandboxConfig,
) -> Env {
    let mut env = emulator_env(aws_url);
    for (k, v) in [
        ("TABLE_NAME", p.table.clone()),
        ("TOKEN_KEY_ID", p.key_id.clone()),
        ("UPLOAD_BUCKET", p.bucket.clone()),
        ("TIKTOK_CLIENT_KEY", sandbox_config.client_key.clone()),
        ("TIKTOK_CLIENT_SECRET", sandbox_config.client_secret.clone()),
        ("TIKTOK_AUTH_URL", sandbox.auth_url().to_string()),
        ("TIKTOK_API_BASE_URL", sandbox.base_url().to_string()),
        (
            "TIKTOK_UPLOAD_ORIGINS",
            sandbox.base_url().origin().ascii_serialization(),
        ),
        ("TIKTOK_TIMEOUT_SECONDS", "2".into()),
        // The emulator answers slower than DynamoDB under the suite's load.
        ("AWS_OPERATION_TIMEOUT_SECONDS", "5".into()),
        ("FUNCTION_TIMEOUT_SECONDS", "900".into()),
        // Most flows post publicly; the unaudited app has tests of its own.
        ("TIKTOK_APP_AUDITED", "true".into()),
        ("OAUTH_REDIRECT_URI", REDIRECT_URI.into()),
        ("APP_RETURN_URL", RETURN_URL.into()),
        ("REFRESH_BACKOFF_MS", "10".into()),
        ("PUBLISH_QUEUE_URL", p.queue_url.clone()),
        ("PUBLISH_QUEUE_ARN", p.queue_arn.clone()),
        ("POST_SCHEDULE_GROUP", p.schedule_group.clone()),
        ("POST_SCHEDULER_ROLE_ARN", p.scheduler_role_arn.clone()),
        (
            "POST_SCHEDULE_DLQ_ARN",
            p.schedule_dead_letter_queue_arn.clone(),
        ),
        ("REFRESH_QUEUE_URL", p.refresh_queue_url.clone()),
        ("ANALYTICS_QUEUE_URL", p.analytics_queue_url.clone()),
        ("PUBLISH_BACKOFF_MS", "10".into()),
        // Follow-ups become visible at once, so tests need not wait.
        ("PUBLISH_MAX_DEFER_SECONDS", "0".into()),
        ("PUBLISH_STATUS_CHECK_SECONDS", "0".into()),
    ] {
        env.set(k, v);
    }
    env
}

pub struct TestApp {
    pub env: Env,
    pub provisioned: Provisioned,
    pub clients: Clients,
    pub sandbox: RunningSandbox,
    /// Between the functions and the emulator: counts calls, injects faults.
    pub aws: aws_proxy::AwsProxy,
    pub start: OAuthStart,
    pub callback: OAuthCallback,
    /// token-refresh as its handler gets it.
    pub token_refresh: TokenRefresh,
    pub refresher: Refresher,
    pub accounts: Accounts,
    pub uploads: Uploads,
    pub posts: Posts,
    /// analytics-api as its handler gets it.
    pub analytics: AnalyticsApi,
    pub publisher: Publisher,
    pub webhooks: Webhooks,
    browser: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a chance to change the functions' environment.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Env)) -> TestApp {
    let admin_env = emulator_env(&aws_endpoint());
    let sdk = aws::load(&admin_env).await;
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
    let aws = aws_proxy::AwsProxy::spawn(aws_endpoint())
        .await
        .expect("proxy starts");
    let mut env = base_env(&aws.url, &provisioned, &sandbox, &sandbox_config);
    customize(&mut env);
    let start = shared::startup::oauth_start(&env)
        .await
        .expect("oauth-start builds");
    let callback = shared::startup::oauth_callback(&env)
        .await
        .expect("oauth-callback builds");
    let token_refresh = shared::startup::token_refresh(&env)
        .await
        .expect("token-refresh builds");
    let refresher = token_refresh.refresher.clone();
    let accounts = shared::startup::accounts_api(&env)
        .await
        .expect("accounts-api builds");
    let uploads = shared::startup::upload_presign(&env)
        .await
        .expect("upload-presign builds");
    let posts = shared::startup::posts_api(&env)
        .await
        .expect("posts-api builds");
    let analytics = shared::startup::analytics_api(&env)
        .await
        .expect("analytics-api builds");
    let publisher = shared::startup::upload_publish(&env)
        .await
        .expect("upload-publish builds");
    let webhooks = shared::startup::tiktok_webhook(&env)
        .await
        .expect("tiktok-webhook builds");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        env,
        provisioned,
        clients,
        sandbox,
        aws,
        start,
        callback,
        token_refresh,
        refresher,
        accounts,
        uploads,
        posts,
        analytics,
        publisher,
        webhooks,
        browser,
    }
}

/// Waits, when less than `needed` is left of `limit`'s current fixed
/// window, until the next one starts: a test that fills a window must not
/// straddle two.
pub async fn within_one_window(limit: &RateLimit, needed: std::time::Duration) {
    let left = limit.retry_after(Utc::now());
    if left < needed.as_secs() {
        tokio::time::sleep(std::time::Duration::from_millis(left * 1000 + 100)).await;
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
    /// The account store, straight to the emulator (not through the proxy).
    pub fn store(&self) -> Store {
        Store::new(
            self.clients.dynamodb.clone(),
            &TableName::from_env(&self.env).expect("table"),
        )
        .with_due_shards(DueShards::from_env(&self.env).expect("shards"))
    }

    /// A store that reaches the emulator through the fault proxy, as the
    /// functions do (its calls are counted).
    pub async fn proxied_store(&self) -> Store {
        let sdk = aws::load(&self.env).await;
        Store::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &TableName::from_env(&self.env).expect("table"),
        )
        .with_due_shards(DueShards::from_env(&self.env).expect("shards"))
    }

    /// An accounts-api request as `user`, through the real handler.
    pub async fn api(
        &self,
        method: &str,
        path_and_query: &str,
        user: Option<&str>,
        body: Option<&str>,
    ) -> Response<Body> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut event = events::http_event(method, path, &query, user);
        if let Some(body) = body {
            event["body"] = serde_json::Value::String(body.to_owned());
        }
        accounts_api::handle(&self.accounts, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    /// `GET /accounts/{account}/creator-info` as `user`.
    pub async fn creator_info(&self, user: &str, account: &str) -> Response<Body> {
        let path = format!("/accounts/{account}/creator-info");
        self.api("GET", &path, Some(user), None).await
    }

    /// A TikTok client configured like the functions' (pointed at the sandbox).
    pub fn tiktok(&self) -> TikTokClient {
        let settings = TikTokSettings::from_env(&self.env).expect("settings");
        let http = http_client(&settings).expect("http client");
        TikTokClient::new(http, &settings)
    }

    pub fn sealer(&self) -> KmsSealer {
        KmsSealer::new(
            self.clients.kms.clone(),
            KeyId::from_env(&self.env).expect("key id"),
        )
    }

    /// Another token-refresh instance (another Lambda), same configuration
    /// with `customize` applied.
    pub async fn refresher_with(&self, customize: impl FnOnce(&mut Env)) -> Refresher {
        let mut env = self.env.clone();
        customize(&mut env);
        shared::startup::token_refresh(&env)
            .await
            .expect("token-refresh builds")
            .refresher
    }

    /// Creates `count` connected accounts `{prefix}-{i}` owned by `owner`,
    /// whose tokens the sandbox issued, all due now. Returns their ids.
    pub async fn seed_due_accounts(
        &self,
        prefix: &str,
        count: usize,
        owner: &str,
    ) -> Vec<AccountId> {
        let ids: Vec<AccountId> = (0..count)
            .map(|i| AccountId::parse(format!("{prefix}-{i}")).expect("id"))
            .collect();
        stream::iter(ids.clone())
            .for_each_concurrent(16, |id| async move {
                self.seed(
                    id.as_ref(),
                    owner,
                    "user.info.basic,video.upload",
                    Freshness::Due,
                )
                .await;
            })
            .await;
        ids
    }

    /// One connected account, its tokens issued by the sandbox.
    pub async fn seed(&self, open_id: &str, owner: &str, scopes: &str, freshness: Freshness) {
        let (access, refresh) = self.sandbox.issue_grant(open_id, scopes);
        let tokens = seed::tokens(&access, &refresh).expect("tokens");
        seed::account(
            &self.store(),
            &self.sealer(),
            open_id,
            owner,
            scopes,
            &tokens,
            freshness,
        )
        .await
        .expect("seed account");
    }

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

    /// `POST /oauth/tiktok/complete {"ticket"}` as `user` (none: no
    /// verified identity).
    pub async fn complete(&self, user: Option<&str>, ticket: &str) -> Response<Body> {
        let mut event = events::http_event("POST", "/oauth/tiktok/complete", &[], user);
        event["body"] = serde_json::json!({ "ticket": ticket }).to_string().into();
        oauth_callback::handle(&self.callback, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    /// The ticket the browser landed with after a callback.
    pub fn ticket_of(response: &Response<Body>) -> Option<String> {
        query_of(&location(response)).get("ticket").cloned()
    }

    /// Start, TikTok and the callback for `user` as TikTok user `open_id`:
    /// the ticket the browser lands with.
    pub async fn ticket(&self, user: &str, open_id: &str) -> String {
        let authorize = self.authorize_url(user).await;
        let callback = self
            .visit_tiktok(&authorize, &[("sandbox_user", open_id)])
            .await;
        Self::ticket_of(&self.follow_callback(&callback).await).expect("a ticket")
    }

    /// The whole dance for `user` as TikTok user `open_id`: start, TikTok,
    /// the callback, and the complete by `user`. Returns how it ended:
    /// `status` `connected` with `account_id`, or `error` with `reason` (the
    /// callback's reason or the complete's error code).
    pub async fn connect(&self, user: &str, open_id: &str) -> HashMap<String, String> {
        let authorize = self.authorize_url(user).await;
        let callback = self
            .visit_tiktok(&authorize, &[("sandbox_user", open_id)])
            .await;
        let response = self.follow_callback(&callback).await;
        assert_eq!(response.status(), 302);
        let landed = query_of(&location(&response));
        if landed["status"] != "pending" {
            return landed;
        }
        self.completion(&self.complete(Some(user), &landed["ticket"]).await)
    }

    /// A complete's answer in the terms of [`TestApp::connect`].
    pub fn completion(&self, response: &Response<Body>) -> HashMap<String, String> {
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response)).expect("a JSON body");
        if response.status() == 200 {
            let id = body["account_id"].as_str().expect("account_id");
            HashMap::from([
                ("status".to_owned(), "connected".to_owned()),
                ("account_id".to_owned(), id.to_owned()),
            ])
        } else {
            let code = body["error"]["code"].as_str().expect("an error code");
            HashMap::from([
                ("status".to_owned(), "error".to_owned()),
                ("reason".to_owned(), code.to_owned()),
                (
                    "http_status".to_owned(),
                    response.status().as_str().to_owned(),
                ),
            ])
        }
    }

    /// Sets one number attribute of an item: how tests make time pass
    /// (an expiry or a lease in the past) without waiting.
    pub async fn set_number(&self, pk: &str, sk: &str, attribute: &str, value: i64) {
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.provisioned.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
            .send()
            .await
            .expect("UpdateItem");
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
