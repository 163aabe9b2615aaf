//! The real binary stops at init with one line naming a bad variable, and
//! never echoes the client secret.

use std::process::Command;

const SECRET: &str = "a-very-secret-value";

fn init_error(env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_upload-publish"))
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
        ("TOKEN_KEY_ID", "alias/tokens"),
        ("TIKTOK_CLIENT_KEY", "ck"),
        ("TIKTOK_CLIENT_SECRET", SECRET),
        ("UPLOAD_BUCKET", "my-uploads"),
        (
            "PUBLISH_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/publish",
        ),
        ("FUNCTION_TIMEOUT_SECONDS", "900"),
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
        (without("PUBLISH_QUEUE_URL"), "PUBLISH_QUEUE_URL"),
        (without("UPLOAD_BUCKET"), "UPLOAD_BUCKET"),
        (without("TOKEN_KEY_ID"), "TOKEN_KEY_ID"),
        (
            without("FUNCTION_TIMEOUT_SECONDS"),
            "FUNCTION_TIMEOUT_SECONDS",
        ),
        (
            with("PUBLISH_LEASE_SECONDS", "600"),
            "PUBLISH_LEASE_SECONDS",
        ),
        (
            with("PUBLISH_STATUS_CHECK_SECONDS", "3600"),
            "PUBLISH_STATUS_CHECK_SECONDS",
        ),
        (
            with("TIKTOK_CLIENT_SECRET", "has spaces in it"),
            "TIKTOK_CLIENT_SECRET",
        ),
        (without("POST_SCHEDULE_GROUP"), "POST_SCHEDULE_GROUP"),
        (
            with("POST_SCHEDULER_ROLE_ARN", "scheduler"),
            "POST_SCHEDULER_ROLE_ARN",
        ),
        (with("POSTS_DAILY_CAP", "0"), "POSTS_DAILY_CAP"),
    ] {
        let line = init_error(&env);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains(name), "{line}");
        assert!(
            !line.contains(SECRET) && !line.contains("has spaces"),
            "{line}"
        );
    }
}
