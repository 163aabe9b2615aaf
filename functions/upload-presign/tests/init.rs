//! The real binary stops at init with one line naming a bad variable.

use std::process::Command;

fn init_error(env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_upload-presign"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn a_missing_or_malformed_variable_stops_init_with_one_line_naming_it() {
    let table = ("TABLE_NAME", "accounts");
    let bucket = ("UPLOAD_BUCKET", "my-uploads");
    for (env, name) in [
        (vec![table], "UPLOAD_BUCKET"),
        (
            vec![table, ("UPLOAD_BUCKET", "Not A Bucket")],
            "UPLOAD_BUCKET",
        ),
        (
            vec![table, bucket, ("UPLOAD_MAX_BYTES", "5000000000")],
            "UPLOAD_MAX_BYTES",
        ),
        (
            vec![table, bucket, ("UPLOAD_URL_TTL_SECONDS", "86400")],
            "UPLOAD_URL_TTL_SECONDS",
        ),
    ] {
        let line = init_error(&env);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains(name), "{line}");
    }
}
