//! A proxy in front of the AWS emulator that counts calls per operation and
//! injects faults: a failure (HTTP 500, as AWS answers an internal error)
//! before or after the emulator has processed the request (a lost answer),
//! or a delay. It can keep the request bodies of chosen operations, and
//! counts the bytes of the answers' bodies; answers of chosen operations
//! stream through instead of being read whole first. Functions under test
//! reach AWS through it by their ordinary `AWS_ENDPOINT_URL`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use tokio::sync::oneshot;

#[derive(Default)]
struct Inner {
    calls: HashMap<String, u64>,
    fail: HashMap<String, u32>,
    lose: HashMap<String, u32>,
    recorded: HashMap<String, Vec<bytes::Bytes>>,
    delay: HashMap<String, Duration>,
    hold: HashMap<String, (u32, Duration)>,
    answer_bytes: HashMap<String, u64>,
    streamed: HashSet<String>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct AwsProxy {
    pub url: String,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

/// The operation of a request: `X-Amz-Target` for DynamoDB and KMS
/// (`DynamoDB_20120810.PutItem` → `DynamoDB.PutItem`), else `S3.<METHOD>`.
fn operation(headers: &HeaderMap, method: &str) -> String {
    match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(target) => {
            let (service, op) = target.split_once('.').unwrap_or((target, ""));
            let service = if service.starts_with("DynamoDB") {
                "DynamoDB"
            } else if service.starts_with("TrentService") {
                "KMS"
            } else {
                service
            };
            format!("{service}.{op}")
        }
        None => format!("S3.{method}"),
    }
}

impl AwsProxy {
    pub async fn spawn(upstream: String) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream,
            http: reqwest::Client::new(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            url,
            shared,
            _shutdown: tx,
        })
    }

    /// Calls of `operation` (e.g. `DynamoDB.UpdateItem`, `KMS.Decrypt`).
    pub fn calls(&self, operation: &str) -> u64 {
        self.shared
            .inner()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Calls per operation, all of them.
    pub fn all_calls(&self) -> HashMap<String, u64> {
        self.shared.inner().calls.clone()
    }

    /// Forgets the calls and answer bytes counted so far.
    pub fn reset_calls(&self) {
        let mut inner = self.shared.inner();
        inner.calls.clear();
        inner.answer_bytes.clear();
    }

    /// Bytes of the answers' bodies to `operation` passed on to the caller
    /// (for a streamed answer the caller stopped reading, what was passed
    /// on before it stopped, socket buffers included).
    pub fn answer_bytes(&self, operation: &str) -> u64 {
        self.shared
            .inner()
            .answer_bytes
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Answers to `operation` (e.g. `S3.GET`) stream through as they
    /// arrive, so the proxy's memory stays flat however large the object.
    pub fn stream_answers(&self, operation: &str) {
        self.shared.inner().streamed.insert(operation.to_owned());
    }

    /// The next `count` calls of `operation` fail with HTTP 500 before
    /// reaching the emulator.
    pub fn fail_next(&self, operation: &str, count: u32) {
        self.shared.inner().fail.insert(operation.to_owned(), count);
    }

    /// The next `count` calls of `operation` reach the emulator, which acts
    /// on them, and are then answered HTTP 500: answers lost on the way.
    pub fn lose_answers(&self, operation: &str, count: u32) {
        self.shared.inner().lose.insert(operation.to_owned(), count);
    }

    /// Keeps the request bodies of `operation` from now on.
    pub fn record(&self, operation: &str) {
        self.shared
            .inner()
            .recorded
            .insert(operation.to_owned(), Vec::new());
    }

    /// The request bodies of `operation` kept since [`Self::record`].
    pub fn recorded(&self, operation: &str) -> Vec<bytes::Bytes> {
        self.shared
            .inner()
            .recorded
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }

    /// Calls of `operation` are answered `delay` after the emulator has
    /// processed them.
    pub fn delay(&self, operation: &str, delay: Duration) {
        self.shared
            .inner()
            .delay
            .insert(operation.to_owned(), delay);
    }

    /// The next `count` calls of `operation` reach the emulator `delay`
    /// late: a write that lands after others sent later.
    pub fn hold_next(&self, operation: &str, count: u32, delay: Duration) {
        self.shared
            .inner()
            .hold
            .insert(operation.to_owned(), (count, delay));
    }

    pub fn clear_faults(&self) {
        let mut inner = self.shared.inner();
        inner.fail.clear();
        inner.lose.clear();
        inner.delay.clear();
        inner.hold.clear();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let op = operation(&parts.headers, parts.method.as_str());
    let (fail, lose, delay, hold, streamed) = {
        let mut inner = shared.inner();
        *inner.calls.entry(op.clone()).or_default() += 1;
        let take = |counts: &mut HashMap<String, u32>| match counts.get_mut(&op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let fail = take(&mut inner.fail);
        let lose = take(&mut inner.lose);
        let hold = match inner.hold.get_mut(&op) {
            Some((n, delay)) if *n > 0 => {
                *n -= 1;
                Some(*delay)
            }
            _ => None,
        };
        let streamed = inner.streamed.contains(&op);
        (fail, lose, inner.delay.get(&op).copied(), hold, streamed)
    };
    if fail {
        return internal_error();
    }
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(kept) = shared.inner().recorded.get_mut(&op) {
        kept.push(bytes.clone());
    }
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = shared
        .http
        .request(parts.method.clone(), format!("{}{}", shared.upstream, path))
        .body(bytes);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if lose {
        return internal_error();
    }
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = if streamed {
        let counter = shared.clone();
        Body::from_stream(answer.bytes_stream().inspect_ok(move |chunk| {
            let mut inner = counter.inner();
            match inner.answer_bytes.get_mut(&op) {
                Some(n) => *n += chunk.len() as u64,
                None => {
                    inner.answer_bytes.insert(op.clone(), chunk.len() as u64);
                }
            }
        }))
    } else {
        let body = answer.bytes().await.unwrap_or_default();
        *shared.inner().answer_bytes.entry(op).or_default() += body.len() as u64;
        Body::from(body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    // A HEAD answer's Content-Length describes the object, not this body;
    // a streamed body is the upstream's, of its length.
    let head = parts.method == axum::http::Method::HEAD;
    for (name, value) in &headers {
        let keep = match name.as_str() {
            "content-length" => head || streamed,
            "transfer-encoding" | "connection" => false,
            _ => true,
        };
        if keep {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// HTTP 500 with AWS's internal-error body: retryable, and says nothing of
/// whether the request was acted on.
fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/x-amz-json-1.0")],
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}"#,
    )
        .into_response()
}
