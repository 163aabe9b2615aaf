//! Fan-out on the emulators: the schedule's invocation plans slices onto the
//! real refresh queue (SQS on moto), and refresh-worker invocations take
//! them as Lambda's SQS event source would, each due account refreshed
//! exactly once at the sandbox.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use harness::{TestApp, spawn_app_with};
use shared::{
    domain::{account::AccountStatus, ports::AccountStore},
    startup::RefreshWorker,
};

/// The scheduled event EventBridge sends.
pub fn scheduled() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events/token-refresh-scheduled.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn fanout_app(shards: u32) -> TestApp {
    spawn_app_with(|env| {
        env.set("REFRESH_MODE", "fanout");
        env.set("REFRESH_SHARDS", shards.to_string());
    })
    .await
}

async fn worker(app: &TestApp) -> RefreshWorker {
    shared::startup::refresh_worker(&app.env)
        .await
        .expect("refresh-worker builds")
}

/// One record, as the SQS event source hands it over.
fn event_of(message_id: &str, body: &str) -> SqsEvent {
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.to_owned());
    record.body = Some(body.to_owned());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    event
}

async fn invoke(worker: &RefreshWorker, message_id: &str, body: &str) -> SqsBatchResponse {
    refresh_worker::handle(
        worker,
        lambda_runtime::LambdaEvent::new(
            event_of(message_id, body),
            lambda_runtime::Context::default(),
        ),
    )
    .await
    .expect("the handler answers")
}

/// Lambda's SQS poller: takes slices from the refresh queue until it is
/// empty, hands each to `worker`, and deletes what it handled. Returns the
/// bodies handled.
pub async fn poll(app: &TestApp, worker: &RefreshWorker) -> Vec<String> {
    let sqs = &app.clients.sqs;
    let url = &app.provisioned.refresh_queue_url;
    let mut handled = Vec::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        let Some(message) = messages.into_iter().next() else {
            return handled;
        };
        let (id, body) = (
            message.message_id.unwrap_or_default(),
            message.body.unwrap_or_default(),
        );
        let answer = invoke(worker, &id, &body).await;
        assert!(answer.batch_item_failures.is_empty(), "{body}");
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(message.receipt_handle.unwrap_or_default())
            .send()
            .await
            .expect("delete");
        handled.push(body);
    }
}

#[tokio::test]
async fn the_schedule_plans_and_workers_refresh_every_due_account_once() {
    let app = fanout_app(4).await;
    let ids = app.seed_due_accounts("fan", 30, "alice").await;

    // The schedule's invocation plans: one slice per shard with due
    // accounts on the refresh queue, and not one refresh.
    let answer = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(scheduled(), lambda_runtime::Context::default()),
    )
    .await
    .expect("a plan");
    let plan = serde_json::to_value(&answer).unwrap();
    assert_eq!(plan["action"], "plan");
    assert_eq!(plan["due"], 30);
    let planned = plan["planned"].as_u64().unwrap();
    assert!((1..=4).contains(&planned), "{plan}");
    assert_eq!(app.sandbox.calls("/v2/oauth/token/"), 0);
    // A dry run still tells what is due across all shards.
    let dry = app
        .refresher
        .run(shared::service::refresh::Command::Sweep { dry_run: true })
        .await;
    assert_eq!(dry.due, 30);

    // Three workers take the slices at once; then every slice is delivered
    // again (SQS delivers at least once) and refreshes nothing more.
    let workers = [worker(&app).await, worker(&app).await, worker(&app).await];
    let handled: Vec<String> = join_all(workers.iter().map(|w| poll(&app, w)))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(handled.len() as u64, planned);
    for (i, body) in handled.iter().enumerate() {
        let answer = invoke(&workers[i % 3], &format!("again-{i}"), body).await;
        assert!(answer.batch_item_failures.is_empty());
    }
    for id in &ids {
        assert_eq!(app.sandbox.rotations(id.as_ref()), 1, "{id}");
        let account = app.store().get_account(id).await.unwrap().unwrap();
        assert_eq!(
            (account.status, account.token_version),
            (AccountStatus::Active, 2)
        );
    }
    assert_eq!(app.sandbox.invalid_grants(), 0);

    // The next plan finds nothing due.
    let answer = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(scheduled(), lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let plan = serde_json::to_value(&answer).unwrap();
    assert_eq!((&plan["planned"], &plan["due"]), (&0.into(), &0.into()));
}

#[tokio::test]
async fn a_message_that_is_not_a_slice_comes_back_for_the_dead_letter_queue() {
    let app = fanout_app(4).await;
    let worker = worker(&app).await;
    for body in [
        "",
        "{}",
        r#"{"shard": 1}"#,
        r#"{"shard": 1, "due_by": "not a time"}"#,
        r#"{"shard": 1, "due_by": "2026-12-02T00:00:00Z", "after": {"due_at": 1, "account_id": "a#b"}}"#,
    ] {
        let answer = invoke(&worker, "m-1", body).await;
        let failed: Vec<_> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m-1"], "{body:?}");
    }
}

#[tokio::test]
async fn the_sweep_mode_still_sweeps_and_fanout_needs_its_queue() {
    // Without REFRESH_MODE the schedule sweeps, as before.
    let app = spawn_app_with(|_| {}).await;
    app.seed_due_accounts("sweep", 3, "alice").await;
    let answer = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(scheduled(), lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let summary = serde_json::to_value(&answer).unwrap();
    assert_eq!(
        (&summary["action"], &summary["refreshed"]),
        (&"sweep".into(), &3.into())
    );

    // fanout without a queue stops at init, naming the variable.
    let mut env = app.env.clone();
    env.set("REFRESH_MODE", "fanout");
    env.remove("REFRESH_QUEUE_URL");
    let error = shared::startup::token_refresh(&env)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("REFRESH_QUEUE_URL"), "{error}");
    env.set("REFRESH_MODE", "sideways");
    let error = shared::startup::token_refresh(&env)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("REFRESH_MODE"), "{error}");
}

#[tokio::test]
async fn accounts_written_under_the_old_shard_count_are_planned_and_moved() {
    // Accounts written under the default count (16 shards) ...
    let app = spawn_app_with(|_| {}).await;
    let ids = app.seed_due_accounts("reshard", 20, "alice").await;
    // ... then a deployment sets REFRESH_SHARDS=2 and fan-out.
    let mut env = app.env.clone();
    env.set("REFRESH_MODE", "fanout");
    env.set("REFRESH_SHARDS", "2");
    let planner = shared::startup::token_refresh(&env).await.unwrap();
    let answer = token_refresh::handle(
        &planner,
        lambda_runtime::LambdaEvent::new(scheduled(), lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let plan = serde_json::to_value(&answer).unwrap();
    assert_eq!(plan["due"], 20, "the old shards are covered: {plan}");
    let worker = shared::startup::refresh_worker(&env).await.unwrap();
    poll(&app, &worker).await;
    for id in &ids {
        assert_eq!(app.sandbox.rotations(id.as_ref()), 1, "{id}");
        // Refreshed, the account is written to the new count's shards.
        let item = app.account_item(id.as_ref()).await.unwrap();
        let shard: u32 = item["due_shard"].as_s().unwrap().parse().unwrap();
        assert!(shard < 2, "{id} in shard {shard}");
    }
    // The plans keep covering the old count's shards, as recorded.
    let span = app
        .all_items()
        .await
        .into_iter()
        .find(|item| item["pk"].as_s().map(String::as_str) == Ok("REFRESH#SHARDS"));
    let span = span.expect("the span is recorded");
    assert_eq!(span["widest"].as_n().map(String::as_str), Ok("16"));
    assert_eq!(span["count"].as_n().map(String::as_str), Ok("2"));
}
