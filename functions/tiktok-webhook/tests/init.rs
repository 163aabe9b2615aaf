//! The real binary stops at init with one line naming a bad variable.

use std::process::Command;

#[test]
fn a_missing_secret_stops_init_with_one_line_naming_it() {
    for (env, name) in [
        (
            vec![("TABLE_NAME", "accounts"), ("TIKTOK_CLIENT_KEY", "ck")],
            "TIKTOK_CLIENT_SECRET",
        ),
        (
            vec![
                ("TABLE_NAME", "accounts"),
                ("TIKTOK_CLIENT_SECRET", "s3cret"),
            ],
            "TIKTOK_CLIENT_KEY",
        ),
        (
            vec![
                ("TABLE_NAME", "accounts"),
                ("TIKTOK_CLIENT_KEY", "ck"),
                ("TIKTOK_CLIENT_SECRET", "s3cret"),
                ("WEBHOOK_TOLERANCE_SECONDS", "5"),
            ],
            "WEBHOOK_TOLERANCE_SECONDS",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_tiktok-webhook"))
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .envs(env)
            .output()
            .expect("the binary runs");
        assert!(!output.status.success());
        let line = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains(name), "{line}");
        assert!(!line.contains("s3cret"), "{line}");
    }
}
