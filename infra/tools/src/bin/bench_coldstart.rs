//! Cold-start benchmark: each function's deployable binary (what `sam build`
//! produced, `.aws-sam/build/<Function>/bootstrap`) and lambda_runtime's
//! hello world built the same way (`--hello`), started as Lambda starts
//! them, against a Lambda Runtime API served here, with an event that needs
//! no network. Measures, from process spawn:
//! - init: until the runtime asks for its first event (`/next`), the phase
//!   Lambda reports as Init Duration;
//! - first event: until it posts that event's response.
//!
//! Runs are interleaved (run 1 of every binary, then run 2, each round in a
//! rotated order), so a busy moment on a shared machine falls on all of them
//! alike; the figure is each function's median init over the hello world's.
//! Prints median and p90 of both, that ratio, and the binary's size.
//!
//! `--steps` then starts each function `--runs` more times with its init
//! steps logged (`shared::support::init_steps`) and prints the median time
//! of each: the process until `main`, tracing, SDK configuration, client
//! secret, config, the TikTok HTTP client, the remaining clients, and the
//! runtime until its first poll.
//!
//!     infra/bench/coldstart.sh [--runs 20] [--dir .aws-sam/build] [--hello target/lambda/hello-lambda/bootstrap] [--steps]

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
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
    Next(Instant, SystemTime),
    Done(Instant, &'static str),
}

struct Runtime {
    event: Mutex<Option<Value>>,
    signals: mpsc::UnboundedSender<Signal>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    let _ = rt
        .signals
        .send(Signal::Next(Instant::now(), SystemTime::now()));
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

fn sqs_event(body: &str) -> Value {
    json!({"Records": [{
        "messageId": "bench", "receiptHandle": "bench", "eventSource": "aws:sqs",
        "body": body, "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
    }]})
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
        "UploadPublishFunction" => {
            sqs_event("{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"b\"}")
        }
        "PostsApiFunction" => http_event("GET", "/posts", ""),
        "AnalyticsApiFunction" => http_event("GET", "/analytics/summary", ""),
        "RefreshWorkerFunction" | "AnalyticsSnapshotFunction" => sqs_event("not a slice"),
        HELLO => json!({"hello": "world"}),
        _ => return None,
    })
}

/// The yardstick's name in the tables.
const HELLO: &str = "hello-world";

/// The value at quantile `q` (0..=1) of `values`, nearest rank.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// One cold start.
struct Start {
    /// Spawn until the first `/next`, ms.
    init: f64,
    /// Spawn until the first event's answer, ms.
    first: f64,
    /// The process's spawn and first `/next`, µs since the epoch.
    spawned_us: u128,
    next_us: u128,
    /// What the process wrote to stdout (only when asked for).
    stdout: String,
}

fn epoch_us(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

/// Starts `binary` once as Lambda would and serves it `event`.
async fn start_once(
    name: &str,
    binary: &PathBuf,
    env: &HashMap<&str, &str>,
    extra_env: &[(&str, &str)],
    event: &Value,
    capture: bool,
) -> anyhow::Result<Start> {
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
    let output = if capture {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env)
        .envs(extra_env.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .stdout(output)
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut init = None;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(signal) = rx.recv().await {
            match signal {
                Signal::Next(at, wall) if init.is_none() => init = Some((at - started, wall)),
                Signal::Next(..) => {}
                Signal::Done(at, kind) => return Some((at - started, kind)),
            }
        }
        None
    })
    .await;
    let _ = child.kill();
    let stdout = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    server.abort();
    let (first, kind) = outcome
        .ok()
        .flatten()
        .ok_or_else(|| anyhow!("{name} never answered its first event"))?;
    let (init, next_wall) = init.ok_or_else(|| anyhow!("{name} failed its init ({kind})"))?;
    Ok(Start {
        init: init.as_secs_f64() * 1e3,
        first: first.as_secs_f64() * 1e3,
        spawned_us: epoch_us(spawned_at),
        next_us: epoch_us(next_wall),
        stdout,
    })
}

/// The init steps a function logged, as (step, µs since the epoch).
fn logged_steps(stdout: &str) -> Option<Vec<(String, u128)>> {
    stdout.lines().find_map(|line| {
        let entry: Value = serde_json::from_str(line).ok()?;
        let steps = entry["fields"]["steps"].as_str()?;
        steps
            .split(',')
            .map(|pair| {
                let (step, at) = pair.split_once('=')?;
                Some((step.to_owned(), at.parse().ok()?))
            })
            .collect()
    })
}

/// The columns of the steps table, in the order a cold start meets them.
const STEPS: [&str; 9] = [
    "main",
    "tracing",
    "config",
    "sdk_config",
    "client_secret",
    "tiktok_http_client",
    "startup",
    "runtime",
    "total",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut runs = 20usize;
    let mut dir = PathBuf::from(".aws-sam/build");
    let mut hello = PathBuf::from("target/lambda/hello-lambda/bootstrap");
    let mut steps = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--steps" {
            steps = true;
            continue;
        }
        let value = args.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => runs = value.parse().context("--runs takes a number")?,
            "--dir" => dir = PathBuf::from(value),
            "--hello" => hello = PathBuf::from(value),
            other => return Err(anyhow!("unknown flag {other}")),
        }
    }
    if runs == 0 {
        return Err(anyhow!("--runs must be at least 1"));
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
        (
            "REFRESH_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/bench-refresh",
        ),
        (
            "ANALYTICS_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/bench-analytics",
        ),
        ("POST_SCHEDULE_GROUP", "bench-posts"),
        (
            "PUBLISH_QUEUE_ARN",
            "arn:aws:sqs:us-east-1:123456789012:bench-publish",
        ),
        (
            "POST_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/bench-scheduler",
        ),
        (
            "POST_SCHEDULE_DLQ_ARN",
            "arn:aws:sqs:us-east-1:123456789012:bench-schedule-dlq",
        ),
        ("FUNCTION_TIMEOUT_SECONDS", "900"),
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
        .filter(|(name, p)| p.exists() && event_for(name).is_some())
        .collect();
    functions.sort();
    if functions.is_empty() {
        return Err(anyhow!("no */bootstrap under {}", dir.display()));
    }
    if !hello.exists() {
        return Err(anyhow!(
            "{} is missing (infra/bench/coldstart.sh builds it)",
            hello.display()
        ));
    }
    functions.insert(0, (HELLO.to_owned(), hello));

    // Interleaved rounds, each in a rotated order.
    let mut starts: Vec<Vec<Start>> = functions.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        for k in 0..functions.len() {
            let i = (round + k) % functions.len();
            let (name, binary) = &functions[i];
            let event = event_for(name).unwrap_or(Value::Null);
            starts[i].push(start_once(name, binary, &env, &[], &event, false).await?);
        }
    }
    let hello_init = median(&starts[0].iter().map(|s| s.init).collect::<Vec<_>>());

    println!(
        "cold start through a local Lambda Runtime API, {runs} interleaved runs each; \
         ratio = median init / the hello world's"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>9} {:>9} {:>7} {:>10}",
        "function", "init p50", "init p90", "first p50", "first p90", "ratio", "binary MB"
    );
    for ((name, binary), starts) in functions.iter().zip(&starts) {
        let inits: Vec<f64> = starts.iter().map(|s| s.init).collect();
        let firsts: Vec<f64> = starts.iter().map(|s| s.first).collect();
        let size = std::fs::metadata(binary)?.len() as f64 / 1e6;
        println!(
            "{:<26} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>6.2}x {:>10.2}",
            name,
            median(&inits),
            quantile(&inits, 0.9),
            median(&firsts),
            quantile(&firsts, 0.9),
            median(&inits) / hello_init,
            size
        );
    }

    if steps {
        print_steps(&functions[1..], &env, runs).await?;
    }
    Ok(())
}

/// Starts each function `runs` more times with its init steps logged, and
/// prints each step's median duration in ms.
async fn print_steps(
    functions: &[(String, PathBuf)],
    env: &HashMap<&str, &str>,
    runs: usize,
) -> anyhow::Result<()> {
    let mut env = env.clone();
    env.remove("AWS_LAMBDA_LOG_LEVEL");
    let extra = [("RUST_LOG", "info,shared::support::init_steps=debug")];
    let mut table: Vec<(String, HashMap<&str, Vec<f64>>)> = functions
        .iter()
        .map(|(name, _)| (name.clone(), HashMap::new()))
        .collect();
    for round in 0..runs {
        for k in 0..functions.len() {
            let i = (round + k) % functions.len();
            let (name, binary) = &functions[i];
            let event = event_for(name).unwrap_or(Value::Null);
            let start = start_once(name, binary, &env, &extra, &event, true).await?;
            let logged = logged_steps(&start.stdout)
                .ok_or_else(|| anyhow!("{name} logged no init steps"))?;
            let mut previous = start.spawned_us;
            let durations = &mut table[i].1;
            for (step, at) in &logged {
                if let Some(column) = STEPS.iter().find(|s| **s == step) {
                    let ms = at.saturating_sub(previous) as f64 / 1e3;
                    durations.entry(column).or_default().push(ms);
                }
                previous = *at;
            }
            let runtime = start.next_us.saturating_sub(previous) as f64 / 1e3;
            durations.entry("runtime").or_default().push(runtime);
            durations.entry("total").or_default().push(start.init);
        }
    }
    println!();
    println!("init steps, median ms ({runs} runs each; main = spawn until main begins)");
    print!("{:<26}", "function");
    for step in STEPS {
        print!(" {:>9}", step.replace("tiktok_http_client", "tiktok_http"));
    }
    println!();
    for (name, durations) in &table {
        print!("{name:<26}");
        for step in STEPS {
            match durations.get(step) {
                Some(values) => print!(" {:>9.2}", median(values)),
                None => print!(" {:>9}", "-"),
            }
        }
        println!();
    }
    Ok(())
}
