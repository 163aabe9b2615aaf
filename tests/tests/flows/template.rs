//! template.yaml passes each function that checks its worst case its own
//! `Timeout` as `FUNCTION_TIMEOUT_SECONDS`, so the check at cold start is
//! against the timeout Lambda will really enforce.

use std::path::Path;

use serde_yaml::Value;

#[test]
fn functions_that_check_their_worst_case_are_given_their_own_timeout() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template: Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML");
    let default = template["Globals"]["Function"]["Timeout"]
        .as_u64()
        .expect("a global timeout");
    let mut checked = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        let timeout = properties["Timeout"].as_u64().unwrap_or(default);
        let passed = &properties["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"];
        if let Some(passed) = passed.as_str() {
            assert_eq!(passed, timeout.to_string(), "{name:?}");
            checked.push(resource["Metadata"]["BuildProperties"]["Binary"].clone());
        }
    }
    let mut binaries: Vec<&str> = checked.iter().filter_map(Value::as_str).collect();
    binaries.sort();
    assert_eq!(
        binaries,
        ["accounts-api", "token-refresh", "upload-publish"]
    );
}

#[test]
fn the_publish_queue_gives_a_message_up_when_the_publisher_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template: Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML");
    let redrive = &template["Resources"]["PublishQueue"]["Properties"]["RedrivePolicy"];
    let max = match &redrive["maxReceiveCount"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    assert_eq!(
        max,
        Some(u64::from(
            shared::service::publish::PublishSettings::default().max_receives
        ))
    );
}
