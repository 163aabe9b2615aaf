//! Metrics in CloudWatch Embedded Metric Format, and the client secret read
//! from Secrets Manager at cold start.

use std::sync::{Arc, Mutex};

use harness::{publishing::ALL_SCOPES, spawn_app, spawn_app_with};
use shared::{
    adapters::aws,
    domain::ratelimit::{Decision, TIKTOK_VIDEO_INIT},
    service::refresh::Command,
    support::metrics,
};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn records(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).expect("each record is one JSON line"))
            .collect()
    }
}

#[tokio::test]
async fn refresh_outcomes_and_rate_limit_denials_are_emitted_as_emf() {
    let buffer = Buffer::default();
    metrics::redirect(Box::new(buffer.clone()));
    let app = spawn_app().await;
    app.seed_due_accounts("emf", 3, "alice").await;
    let summary = app.refresher.run(Command::Sweep { dry_run: false }).await;
    assert_eq!(summary.refreshed, 3);
    let account = app.seed_account("tt-emf", "alice", ALL_SCOPES).await;
    let store = app.store();
    let now = chrono::Utc::now();
    let mut denied = 0;
    for _ in 0..8 {
        if let Decision::Denied { .. } = store
            .rate_hit(&TIKTOK_VIDEO_INIT, account.as_ref(), now)
            .await
            .unwrap()
        {
            denied += 1;
        }
    }
    assert_eq!(denied, 2);

    let records = buffer.records();
    // Under `cargo test` other tests' sweeps share the process: find ours.
    let sweep = records
        .iter()
        .find(|r| r["Operation"] == "sweep" && r["Refreshed"] == 3)
        .expect("this sweep's record");
    assert_eq!(sweep["RefreshFailed"], 0);
    assert_eq!(
        sweep["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        metrics::NAMESPACE
    );
    let limited: Vec<_> = records
        .iter()
        .filter(|r| r["Scope"] == "tiktok-video-init")
        .collect();
    assert_eq!(limited.len(), 2);
    assert!(limited.iter().all(|r| r["RateLimited"] == 1));
    // Counts and names only: no token or secret in any record.
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    for secret in app.sandbox.secrets() {
        assert!(!text.contains(&secret));
    }
}

#[tokio::test]
async fn the_client_secret_is_read_from_secrets_manager_at_cold_start() {
    let app = spawn_app().await;
    let secret_value = "sandbox_client_secret";
    let secrets = aws_sdk_secretsmanager::Client::new(
        &aws::load(&tools::emulator_env(&tools::aws_endpoint())).await,
    );
    let arn = secrets
        .create_secret()
        .name(format!("{}-tiktok-client-secret", app.provisioned.table))
        .secret_string(secret_value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    // In AWS the functions get the secret's ARN, never its value.
    let mut env = app.env.clone();
    env.remove("TIKTOK_CLIENT_SECRET");
    env.set("TIKTOK_CLIENT_SECRET_ARN", &arn);
    let refresher = shared::startup::token_refresh(&env)
        .await
        .expect("builds")
        .refresher;
    app.seed_due_accounts("sm", 1, "alice").await;
    let summary = refresher.run(Command::Sweep { dry_run: false }).await;
    assert_eq!(
        summary.refreshed, 1,
        "TikTok accepted the secret read from Secrets Manager"
    );
    shared::startup::tiktok_webhook(&env).await.expect("builds");

    // A secret that cannot be read stops init naming the variable.
    env.set("TIKTOK_CLIENT_SECRET_ARN", format!("{arn}-missing"));
    let error = shared::startup::upload_publish(&env)
        .await
        .err()
        .expect("init fails");
    let line = error.to_string();
    assert!(line.contains("TIKTOK_CLIENT_SECRET_ARN"), "{line}");
    assert!(!line.contains(secret_value), "{line}");
    // Neither set: the value is required.
    env.remove("TIKTOK_CLIENT_SECRET_ARN");
    let error = shared::startup::tiktok_webhook(&env)
        .await
        .err()
        .expect("init fails");
    assert!(
        error.to_string().contains("TIKTOK_CLIENT_SECRET"),
        "{error}"
    );
}

#[tokio::test]
async fn a_local_secret_wins_and_needs_no_secrets_manager() {
    // TIKTOK_CLIENT_SECRET set: the ARN, even a bogus one, is not read.
    let app = spawn_app_with(|env| {
        env.set(
            "TIKTOK_CLIENT_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:none",
        )
    })
    .await;
    app.seed_due_accounts("local", 1, "alice").await;
    let summary = app.refresher.run(Command::Sweep { dry_run: false }).await;
    assert_eq!(summary.refreshed, 1);
}

#[tokio::test]
async fn requests_carry_a_correlation_id_into_logs_and_back_to_the_caller() {
    let logs = harness::logs::capture();
    let app = spawn_app().await;
    let call = |header: Option<&str>| {
        let mut event = harness::events::http_event("GET", "/accounts", &[], Some("alice"));
        if let Some(value) = header {
            event["headers"]["x-correlation-id"] = serde_json::Value::String(value.to_owned());
        }
        let request_id = event["requestContext"]["requestId"]
            .as_str()
            .unwrap()
            .to_owned();
        let accounts = &app.accounts;
        async move {
            let response = accounts_api::handle(accounts, harness::events::request(&event))
                .await
                .unwrap();
            let echoed = response.headers()["x-correlation-id"]
                .to_str()
                .unwrap()
                .to_owned();
            (echoed, request_id)
        }
    };
    let (echoed, _) = call(Some("client-trace-42")).await;
    assert_eq!(echoed, "client-trace-42");
    let (echoed, request_id) = call(None).await;
    assert_eq!(echoed, request_id, "API Gateway's request id by default");
    let (echoed, request_id) = call(Some("not ok; <script>")).await;
    assert_eq!(echoed, request_id, "a malformed id is not echoed");
    let captured = logs.contents();
    assert!(
        captured
            .lines()
            .any(|l| l.contains("client-trace-42") && l.contains("correlation_id")),
        "the id is a field of the request's log lines"
    );
}
