//! The real binary stops at init with one line naming a bad variable.

use std::process::Command;

fn run(env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_oauth-callback"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const VALID: &[(&str, &str)] = &[
    ("TABLE_NAME", "accounts"),
    ("TOKEN_KEY_ID", "alias/tokens"),
    ("TIKTOK_CLIENT_KEY", "ck"),
    ("TIKTOK_CLIENT_SECRET", "a-very-secret-value"),
    (
        "OAUTH_REDIRECT_URI",
        "https://api.example.com/oauth/tiktok/callback",
    ),
    ("APP_RETURN_URL", "https://app.example.com/"),
];

#[test]
fn a_missing_variable_stops_init_with_one_line_naming_it() {
    for missing in [
        "TABLE_NAME",
        "TOKEN_KEY_ID",
        "TIKTOK_CLIENT_SECRET",
        "APP_RETURN_URL",
    ] {
        let env: Vec<_> = VALID
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let (ok, stderr) = run(&env);
        assert!(!ok, "init must fail without {missing}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(missing), "{stderr}");
    }
}

#[test]
fn a_malformed_secret_is_named_but_never_echoed() {
    let mut env: Vec<_> = VALID
        .iter()
        .copied()
        .filter(|(k, _)| *k != "TIKTOK_CLIENT_SECRET")
        .collect();
    env.push(("TIKTOK_CLIENT_SECRET", "a-very-secret value"));
    let (ok, stderr) = run(&env);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TIKTOK_CLIENT_SECRET"), "{stderr}");
    assert!(!stderr.contains("a-very-secret"), "{stderr}");
}
