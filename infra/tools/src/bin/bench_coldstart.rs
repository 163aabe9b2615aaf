//! Cold-start benchmark: each function's deployable binary (what `sam build`
//! produced, `.aws-sam/build/<Function>/bootstrap`) started as Lambda starts
//! it, against a Lambda Runtime API served here, with an event that needs no
//! network. Measures, from process start:
//! - init: until the runtime asks for its first event (`/next`), the phase
//!   Lambda reports as Init Duration;
//! - first event: until it posts that event's response.
//!
//! Prints the median of `--runs` for each, and the binary's size.
//!
//!     infra/bench/coldstart.sh [--runs 20] [--dir .aws-sam/build]

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Debug)]
enum Signal {
    Next(Instant),
    Done(Instant, &'static str),
}

struct Runtime {
    event: Mutex<Option<Value>>,
    signals: mpsc::UnboundedSender<Signal>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    let _ = rt.signals.send(Signal::Next(Instant::now()));
    let event = rt.event.lock().map(|mut e| e.take()).unwrap_or(None);
    let Some(event) = event else {
        // One event per process; later polls wait until it is killed.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return (StatusCode::NO_CONTENT, HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    for (name, value) in [
        (
            "lambda-runtime-aws-request-id",
            "bench-request-1".to_owned(),
        ),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    (StatusCode::OK, headers, event.to_string())
}

async fn response(State(rt): State<Arc<Runtime>>, _body: Bytes) -> StatusCode {
    let _ = rt.signals.send(Signal::Done(Instant::now(), "response"));
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Arc<Runtime>>, _body: Bytes) -> StatusCode {
    let _ = rt.signals.send(Signal::Done(Instant::now(), "error"));
    StatusCode::ACCEPTED
}

fn http_event(method: &str, path: &str, query: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path,
        "rawQueryString": query, "headers": {"host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "api.example.com",
            "domainPrefix": "api", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "bench",
            "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795428000000u64
        },
        "isBase64Encoded": false
    })
}

/// An event each function handles without any network: refusals before any
/// AWS or TikTok call, or nothing to do.
fn event_for(function: &str) -> Option<Value> {
    Some(match function {
        "OAuthStartFunction" => http_event("GET", "/oauth/tiktok/start", ""),
        "OAuthCallbackFunction" => http_event("GET", "/oauth/tiktok/callback", "code=x"),
        "AccountsApiFunction" => http_event("GET", "/accounts", ""),
        "UploadPresignFunction" => http_event("POST", "/uploads", ""),
        "TikTokWebhookFunction" => http_event("POST", "/webhooks/tiktok", ""),
        "TokenRefreshFunction" => json!({"action": "refresh", "account_id": "not an id!"}),
        "UploadPublishFunction" => json!({"Records": [{
            "messageId": "bench", "receiptHandle": "bench", "eventSource": "aws:sqs",
            "body": "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"b\"}",
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
        }]}),
        _ => return None,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut runs = 20usize;
    let mut dir = PathBuf::from(".aws-sam/build");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => runs = value.parse().context("--runs takes a number")?,
            "--dir" => dir = PathBuf::from(value),
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    // Configuration as the template gives it, pointed nowhere: nothing here
    // may need the network.
    let env: HashMap<&str, &str> = HashMap::from([
        ("TABLE_NAME", "bench-table"),
        ("TOKEN_KEY_ID", "alias/bench-tokens"),
        ("UPLOAD_BUCKET", "bench-uploads"),
        (
            "PUBLISH_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/bench-publish",
        ),
        ("TIKTOK_CLIENT_KEY", "bench_client_key"),
        ("TIKTOK_CLIENT_SECRET", "bench_client_secret"),
        (
            "OAUTH_REDIRECT_URI",
            "https://api.example.com/oauth/tiktok/callback",
        ),
        ("APP_RETURN_URL", "https://app.example.com/accounts"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ]);
    let mut functions: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("{} (run infra/deploy/build.sh first)", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("bootstrap"),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();
    functions.sort();
    if functions.is_empty() {
        return Err(anyhow!("no */bootstrap under {}", dir.display()));
    }

    println!("cold start through a local Lambda Runtime API, {runs} runs each (median)");
    println!(
        "{:<24} {:>9} {:>14} {:>12}",
        "function", "init ms", "first event ms", "binary MB"
    );
    for (function, binary) in functions {
        let Some(event) = event_for(&function) else {
            continue;
        };
        let size = std::fs::metadata(&binary)?.len() as f64 / 1e6;
        let (mut inits, mut firsts) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let runtime = Arc::new(Runtime {
                event: Mutex::new(Some(event.clone())),
                signals: tx,
            });
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(response),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
                .route("/2018-06-01/runtime/init/error", post(error))
                .with_state(runtime);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let api = listener.local_addr()?.to_string();
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .env_clear()
                .envs(&env)
                .env("AWS_LAMBDA_RUNTIME_API", &api)
                .env("AWS_LAMBDA_FUNCTION_NAME", &function)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let mut init = None;
            let outcome = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(signal) = rx.recv().await {
                    match signal {
                        Signal::Next(at) if init.is_none() => init = Some(at - started),
                        Signal::Next(_) => {}
                        Signal::Done(at, kind) => return Some((at - started, kind)),
                    }
                }
                None
            })
            .await;
            let _ = child.kill();
            let _ = child.wait();
            server.abort();
            let (first, kind) = outcome
                .ok()
                .flatten()
                .ok_or_else(|| anyhow!("{function} never answered its first event"))?;
            let init = init.ok_or_else(|| anyhow!("{function} failed its init ({kind})"))?;
            inits.push(init.as_secs_f64() * 1e3);
            firsts.push(first.as_secs_f64() * 1e3);
        }
        println!(
            "{:<24} {:>9.1} {:>14.1} {:>12.2}",
            function,
            median(&mut inits),
            median(&mut firsts),
            size
        );
    }
    println!(
        "lambda-perf (public) median init durations: Rust hello world 13.8 ms, Python 80.6 ms"
    );
    Ok(())
}
