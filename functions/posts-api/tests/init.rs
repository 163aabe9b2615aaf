//! The real binary stops at init with one line naming a bad variable.

use std::process::Command;

fn init_error(env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_posts-api"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn a_missing_or_malformed_variable_stops_init_with_one_line_naming_it() {
    let valid = [
        ("AWS_REGION", "us-east-1"),
        ("TABLE_NAME", "accounts"),
        ("UPLOAD_BUCKET", "my-uploads"),
        (
            "PUBLISH_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/publish",
        ),
        (
            "PUBLISH_QUEUE_ARN",
            "arn:aws:sqs:us-east-1:123456789012:publish",
        ),
        ("POST_SCHEDULE_GROUP", "posts"),
        (
            "POST_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        ),
        (
            "POST_SCHEDULE_DLQ_ARN",
            "arn:aws:sqs:us-east-1:123456789012:schedules-dlq",
        ),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        valid.iter().copied().filter(|(k, _)| *k != name).collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut env = without(name);
        env.push((name, value));
        env
    };
    for (env, name) in [
        (without("TABLE_NAME"), "TABLE_NAME"),
        (without("UPLOAD_BUCKET"), "UPLOAD_BUCKET"),
        (without("PUBLISH_QUEUE_URL"), "PUBLISH_QUEUE_URL"),
        (without("PUBLISH_QUEUE_ARN"), "PUBLISH_QUEUE_ARN"),
        (without("POST_SCHEDULE_GROUP"), "POST_SCHEDULE_GROUP"),
        (
            with("POST_SCHEDULE_DLQ_ARN", "schedules-dlq"),
            "POST_SCHEDULE_DLQ_ARN",
        ),
        (with("PUBLISH_QUEUE_URL", "not a url"), "PUBLISH_QUEUE_URL"),
    ] {
        let line = init_error(&env);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains(name), "{line}");
    }
}
