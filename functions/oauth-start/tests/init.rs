//! The real binary stops at init with one line naming a bad variable.

use std::process::Command;

#[test]
fn a_missing_or_malformed_variable_stops_init_with_one_line_naming_it() {
    let valid = [
        ("TABLE_NAME", "accounts"),
        ("TIKTOK_CLIENT_KEY", "ck"),
        (
            "OAUTH_REDIRECT_URI",
            "https://api.example.com/oauth/tiktok/callback",
        ),
    ];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            valid
                .iter()
                .copied()
                .filter(|(k, _)| *k != "TABLE_NAME")
                .collect(),
            "TABLE_NAME",
        ),
        (
            valid
                .iter()
                .copied()
                .filter(|(k, _)| *k != "OAUTH_REDIRECT_URI")
                .collect(),
            "OAUTH_REDIRECT_URI",
        ),
        (
            valid
                .iter()
                .copied()
                .chain([("TIKTOK_AUTH_URL", "not a url")])
                .collect(),
            "TIKTOK_AUTH_URL",
        ),
    ];
    for (env, name) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_oauth-start"))
            .env_clear()
            .envs(env)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "init must fail for {name}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}
