use aws_sdk_dynamodb::types::AttributeValue;
use harness::TestApp;
use shared::domain::{account::Account, ids::AccountId, ports::AccountStore};

pub async fn account(app: &TestApp, open_id: &str) -> Account {
    app.store()
        .get_account(&AccountId::parse(open_id).expect("id"))
        .await
        .expect("store")
        .expect("account exists")
}

pub fn n(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> i64 {
    item[key].as_n().expect("number").parse().expect("i64")
}

pub fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item[key].as_s().expect("string")
}

/// Items whose pk starts with `prefix`.
pub async fn count_items(app: &TestApp, prefix: &str) -> usize {
    app.all_items()
        .await
        .iter()
        .filter(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with(prefix)))
        .count()
}

/// Nothing of a connect is left: no account and no OAuth state (rate
/// counters are expected).
pub async fn no_account_or_state(app: &TestApp) -> bool {
    count_items(app, "ACCOUNT#").await == 0 && count_items(app, "STATE#").await == 0
}
