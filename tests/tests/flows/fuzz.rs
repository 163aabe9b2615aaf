//! Whatever API Gateway, SQS or EventBridge hand the functions, each
//! answers (a 4xx in our error shape, or what the route does) and never
//! panics: a panic aborts the process (`panic = "abort"`) and drops every
//! request in it. Random requests, shaped like the real events, go through
//! the real handlers against the emulator and the sandbox.

use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    strategy::ValueTree,
    test_runner::TestRunner,
};
use serde_json::{Value, json};

use harness::{body_text, events, spawn_app};

const CASES: usize = 150;

/// Text as callers send it: anything, ids that look right, numbers, huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9._~-]{1,40}",
        "[0-9a-f]{32}",
        "-?[0-9]{1,25}",
        Just("..".to_owned()),
        Just("%2F..%2F".to_owned()),
        Just("a".repeat(5_000)),
        Just(String::new()),
    ]
}

/// Any JSON, a few levels deep, numbers of any size included.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    text(),
                    Just("account_id".to_owned()),
                    Just("size_bytes".to_owned()),
                    Just("ticket".to_owned()),
                    Just("action".to_owned()),
                    Just("post".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request as the HTTP API hands it to a function.
#[derive(Debug, Clone)]
struct HttpCase {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    sub: Option<String>,
    body: Option<String>,
    signature: Option<String>,
}

fn http_case() -> impl Strategy<Value = HttpCase> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("DELETE"),
        Just("PUT"),
        Just("PATCH")
    ];
    let route = prop_oneof![
        Just("/accounts".to_owned()),
        text().prop_map(|id| format!("/accounts/{id}")),
        text().prop_map(|id| format!("/accounts/{id}/refresh")),
        Just("/uploads".to_owned()),
        text().prop_map(|id| format!("/uploads/{id}")),
        Just("/oauth/tiktok/callback".to_owned()),
        Just("/oauth/tiktok/complete".to_owned()),
        Just("/webhooks/tiktok".to_owned()),
        text().prop_map(|p| format!("/{p}")),
    ];
    let query = vec(
        (
            prop_oneof![
                Just("limit".to_owned()),
                Just("cursor".to_owned()),
                Just("state".to_owned()),
                Just("code".to_owned()),
                Just("error".to_owned()),
                text(),
            ],
            text(),
        ),
        0..4,
    );
    let body = prop_oneof![
        Just(None),
        text().prop_map(Some),
        json_value().prop_map(|v| Some(v.to_string())),
    ];
    let signature = prop_oneof![
        Just(None),
        text().prop_map(Some),
        (any::<i64>(), "[0-9a-f]{0,64}").prop_map(|(t, s)| Some(format!("t={t},s={s}"))),
    ];
    (
        method,
        route,
        query,
        prop_oneof![Just(None), text().prop_map(Some)],
        body,
        signature,
    )
        .prop_map(|(method, path, query, sub, body, signature)| HttpCase {
            method,
            path,
            query,
            sub,
            body,
            signature,
        })
}

/// `count` values of `strategy`, reproducible from proptest's default seed.
fn samples<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

fn event_of(case: &HttpCase) -> Option<lambda_http::Request> {
    let mut event = events::http_event(case.method, &case.path, &case.query, case.sub.as_deref());
    if let Some(body) = &case.body {
        event["body"] = Value::String(body.clone());
    }
    if let Some(signature) = &case.signature {
        event["headers"]["tiktok-signature"] = Value::String(signature.clone());
    }
    // An event API Gateway could not have sent is not the functions' to read.
    lambda_http::request::from_str(&event.to_string()).ok()
}

/// A response the contract allows: no 5xx but 503 (our dependency is
/// away), and every error in our shape with nothing of AWS in it.
fn check(case: &HttpCase, status: u16, body: &str) {
    assert!(status < 500 || status == 503, "{case:?} -> {status} {body}");
    if status >= 400 {
        let error: Value =
            serde_json::from_str(body).unwrap_or_else(|_| panic!("{case:?}: {body}"));
        assert!(error["error"]["code"].is_string(), "{case:?}: {body}");
        for leak in ["arn:", "amazonaws", "127.0.0.1", "dispatch failure"] {
            assert!(!body.contains(leak), "{case:?}: {body}");
        }
    }
}

#[tokio::test]
async fn any_request_to_any_http_function_gets_an_answer() {
    let app = spawn_app().await;
    let mut answered = 0;
    for case in samples(http_case(), CASES) {
        let Some(request) = event_of(&case) else {
            continue;
        };
        let responses = [
            accounts_api::handle(&app.accounts, request.clone()).await,
            upload_presign::handle(&app.uploads, request.clone()).await,
            oauth_callback::handle(&app.callback, request.clone()).await,
            oauth_start::handle(&app.start, request.clone()).await,
            tiktok_webhook::handle(&app.webhooks, request).await,
        ];
        for response in responses {
            let response = response.unwrap_or_else(|e| panic!("{case:?}: {e}"));
            check(&case, response.status().as_u16(), &body_text(&response));
        }
        answered += 1;
    }
    assert!(
        answered > CASES / 2,
        "most cases are valid events: {answered}"
    );
}

#[tokio::test]
async fn any_queue_record_or_scheduled_event_is_handled() {
    let app = spawn_app().await;
    let bodies = prop_oneof![
        text(),
        json_value().prop_map(|v| v.to_string()),
        (text(), text(), any::<u64>()).prop_map(|(bucket, key, size)| {
            json!({"Records": [{"eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}]})
            .to_string()
        }),
        (text(), any::<i64>()).prop_map(|(id, attempt)| {
            json!({"step": "publish", "upload_id": id, "attempt": attempt}).to_string()
        }),
    ];
    for body in samples(bodies, CASES) {
        let mut record = aws_lambda_events::sqs::SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.body = Some(body.clone());
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        event.records = vec![record];
        upload_publish::handle(
            &app.publisher,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    for payload in samples(json_value(), CASES) {
        // Refused or run: a bad command is an error, never a panic.
        let _ = token_refresh::handle(
            &app.token_refresh,
            lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default()),
        )
        .await;
    }
}
