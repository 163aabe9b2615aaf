//! The local stack is built from template.yaml, and the sample events drive
//! the functions.

use std::path::Path;

use harness::{body_text, events, spawn_app};

#[tokio::test]
async fn the_provisioned_table_has_the_templates_keys_indexes_and_ttl() {
    let app = spawn_app().await;
    let table = app
        .clients
        .dynamodb
        .describe_table()
        .table_name(&app.provisioned.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let mut indexes: Vec<String> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["analytics", "by_owner", "due", "posts_by_owner"]);
    let keys: Vec<&str> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, ["pk", "sk"]);
    let ttl = app
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&app.provisioned.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    let rotation = app
        .clients
        .kms
        .get_key_rotation_status()
        .key_id(&app.provisioned.key_id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    let block = app
        .clients
        .s3
        .get_public_access_block()
        .bucket(&app.provisioned.bucket)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
}

fn sample_event(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_sample_events_drive_the_functions() {
    let app = spawn_app().await;
    let start = oauth_start::handle(
        &app.start,
        events::request(&sample_event("oauth-start.json")),
    )
    .await
    .unwrap();
    assert_eq!(start.status(), 200, "{}", body_text(&start));

    // The callback sample carries a state nobody issued: refused, safely.
    let callback = oauth_callback::handle(
        &app.callback,
        events::request(&sample_event("oauth-callback.json")),
    )
    .await
    .unwrap();
    assert_eq!(callback.status(), 302);
    assert_eq!(
        harness::query_of(&harness::location(&callback))["reason"],
        "invalid_state"
    );
    // The complete sample carries a ticket nobody issued: 404.
    let complete = oauth_callback::handle(
        &app.callback,
        events::request(&sample_event("oauth-callback-complete.json")),
    )
    .await
    .unwrap();
    assert_eq!(complete.status(), 404, "{}", body_text(&complete));
    assert!(body_text(&complete).contains("connect_not_found"));

    let list = accounts_api::handle(
        &app.accounts,
        events::request(&sample_event("accounts-api-list.json")),
    )
    .await
    .unwrap();
    assert_eq!(list.status(), 200, "{}", body_text(&list));
    assert!(body_text(&list).contains(r#""accounts":[]"#));
}

#[tokio::test]
async fn the_publish_queue_redrives_and_the_bucket_notifies_it() {
    let app = spawn_app().await;
    let attributes = app
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&app.provisioned.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy])
            .unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-publish-dlq")
    );
    assert_eq!(
        attributes[&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout],
        "5400"
    );
    let notification = app
        .clients
        .s3
        .get_bucket_notification_configuration()
        .bucket(&app.provisioned.bucket)
        .send()
        .await
        .unwrap();
    let mut prefixes: Vec<&str> = notification
        .queue_configurations()
        .iter()
        .map(|q| {
            q.filter().unwrap().key().unwrap().filter_rules()[0]
                .value()
                .unwrap()
        })
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, ["media/", "uploads/"]);
}

#[tokio::test]
async fn the_posts_schedule_group_and_its_dead_letter_queue_exist() {
    let app = spawn_app().await;
    let p = &app.provisioned;
    let group = app
        .clients
        .scheduler
        .get_schedule_group()
        .name(&p.schedule_group)
        .send()
        .await
        .unwrap();
    assert_eq!(group.name(), Some(p.schedule_group.as_str()));
    let arn = app
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&p.schedule_dead_letter_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    assert_eq!(arn, p.schedule_dead_letter_queue_arn);
    assert!(p.queue_arn.ends_with("-publish"));
    assert!(p.scheduler_role_arn.starts_with("arn:aws:iam::"));
    assert_eq!(
        app.env.get("POST_SCHEDULE_GROUP"),
        Some(p.schedule_group.as_str())
    );
}

#[tokio::test]
async fn the_upload_and_webhook_sample_events_drive_the_functions() {
    let app = spawn_app().await;
    app.seed_account(
        "tt-alice-1",
        "local-user-1",
        harness::publishing::ALL_SCOPES,
    )
    .await;
    let created = upload_presign::handle(
        &app.uploads,
        events::request(&sample_event("upload-presign-create.json")),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201, "{}", body_text(&created));
    let get = upload_presign::handle(
        &app.uploads,
        events::request(&sample_event("upload-presign-get.json")),
    )
    .await
    .unwrap();
    assert_eq!(get.status(), 404, "no such upload");

    // The post samples name a video and a post nobody made: 404, and a
    // schedule's message for a post that does not exist changes nothing.
    let create = posts_api::handle(
        &app.posts,
        events::request(&sample_event("posts-api-create.json")),
    )
    .await
    .unwrap();
    assert_eq!(create.status(), 404, "{}", body_text(&create));
    assert!(body_text(&create).contains("media_not_found"));
    let get = posts_api::handle(
        &app.posts,
        events::request(&sample_event("posts-api-get.json")),
    )
    .await
    .unwrap();
    assert_eq!(get.status(), 404, "{}", body_text(&get));

    for name in [
        "upload-publish-s3.json",
        "upload-publish-check.json",
        "upload-publish-post-schedule.json",
    ] {
        let event: aws_lambda_events::sqs::SqsEvent =
            serde_json::from_value(sample_event(name)).unwrap();
        let response = upload_publish::handle(
            &app.publisher,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        .unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: an unknown upload is nothing to retry"
        );
    }

    // Signed with the local stack's secret, long ago: refused as stale here.
    let webhook = tiktok_webhook::handle(
        &app.webhooks,
        events::request(&sample_event("tiktok-webhook.json")),
    )
    .await
    .unwrap();
    assert_eq!(webhook.status(), 401);
}

#[tokio::test]
async fn the_analytics_queue_redrives_and_its_sample_events_drive_the_snapshot() {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let app = spawn_app().await;
    let p = &app.provisioned;
    assert_eq!(
        app.env.get("ANALYTICS_QUEUE_URL"),
        Some(p.analytics_queue_url.as_str())
    );
    let attributes = |url: String| {
        let sqs = app.clients.sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()
        }
    };
    let queue = attributes(p.analytics_queue_url.clone()).await;
    let redrive: serde_json::Value = serde_json::from_str(&queue[&A::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );
    let dead_letters = attributes(p.analytics_dead_letter_queue_url.clone()).await;
    assert_eq!(
        redrive["deadLetterTargetArn"].as_str(),
        Some(dead_letters[&A::QueueArn].as_str())
    );
    assert!(dead_letters[&A::QueueArn].ends_with("-analytics-dlq"));
    assert_eq!(queue[&A::VisibilityTimeout], "1800");

    // analytics-snapshot builds from the stack's environment; the schedule
    // plans one slice per shard onto the provisioned queue.
    let snapshot = shared::startup::analytics_snapshot(&app.env)
        .await
        .expect("analytics-snapshot builds");
    let scheduled = sample_event("analytics-snapshot-scheduled.json");
    assert!(scheduled.get("Records").is_none(), "a plan, not a batch");
    let slices = snapshot.snapshots.plan(snapshot.shards).await.unwrap();
    snapshot
        .queue
        .send_all(&slices, std::time::Duration::ZERO)
        .await
        .unwrap();
    let queue = attributes(p.analytics_queue_url.clone()).await;
    assert_eq!(
        queue[&A::ApproximateNumberOfMessages],
        snapshot.shards.count().to_string()
    );

    // The slice sample's record is a slice; its shard has no account here.
    let batch: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_value(sample_event("analytics-snapshot-slice.json")).unwrap();
    let body = batch.records[0].body.as_deref().unwrap();
    let slice: shared::service::analytics::SnapshotSlice = serde_json::from_str(body).unwrap();
    assert_eq!(slice.shard, 0);
    let deadline =
        shared::support::deadline::Deadline::at(chrono::Utc::now() + chrono::Duration::minutes(15));
    let report = snapshot.snapshots.work(slice, deadline).await.unwrap();
    assert_eq!((report.taken, report.rest), (0, None));
}

#[tokio::test]
async fn the_analytics_api_sample_events_drive_the_function() {
    let app = spawn_app().await;
    app.seed_account(
        "tt-alice-1",
        "local-user-1",
        harness::publishing::ALL_SCOPES,
    )
    .await;
    let api = shared::startup::analytics_api(&app.env)
        .await
        .expect("analytics-api builds");
    // The sample's account, the sample's user, no snapshot yet: no points.
    let stats = analytics_api::handle(
        &api,
        events::request(&sample_event("analytics-api-stats.json")),
    )
    .await
    .unwrap();
    assert_eq!(stats.status(), 200, "{}", body_text(&stats));
    assert!(
        body_text(&stats).contains(r#""points":[]"#),
        "{}",
        body_text(&stats)
    );
    let summary = analytics_api::handle(
        &api,
        events::request(&sample_event("analytics-api-summary.json")),
    )
    .await
    .unwrap();
    assert_eq!(summary.status(), 200, "{}", body_text(&summary));
    assert!(
        body_text(&summary).contains("tt-alice-1"),
        "{}",
        body_text(&summary)
    );
}
