//! `docs/openapi.yaml` describes exactly the routes template.yaml gives the
//! HTTP API, with the same authorization, and every status the contract
//! names for them.

use std::{collections::BTreeMap, path::Path};

use serde_yaml::Value;

fn load(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML")
}

/// `(METHOD, path) -> (function, authenticated)` from the template's
/// HttpApi events.
/// `{$ref: "#/components/responses/<name>"}`.
fn reference(name: &str) -> Value {
    let mut reference = serde_yaml::Mapping::new();
    reference.insert(
        "$ref".into(),
        format!("#/components/responses/{name}").into(),
    );
    Value::Mapping(reference)
}

fn template_routes() -> BTreeMap<(String, String), (String, bool)> {
    let template = load("../template.yaml");
    let mut routes = BTreeMap::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &event["Properties"];
            let open = p["Auth"]["Authorizer"].as_str() == Some("NONE");
            routes.insert(
                (
                    p["Method"].as_str().unwrap().to_uppercase(),
                    p["Path"].as_str().unwrap().to_owned(),
                ),
                (name.as_str().unwrap().to_owned(), !open),
            );
        }
    }
    routes
}

#[test]
fn the_openapi_document_matches_the_templates_routes() {
    let doc = load("../docs/openapi.yaml");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let default_secured = !doc["security"].as_sequence().unwrap().is_empty();
    let mut documented = BTreeMap::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let secured = match operation.get("security") {
                Some(Value::Sequence(s)) => !s.is_empty(),
                _ => default_secured,
            };
            assert!(
                operation["responses"]
                    .as_mapping()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path:?} documents its responses"
            );
            documented.insert(
                (method.to_uppercase(), path.as_str().unwrap().to_owned()),
                (operation.clone(), secured),
            );
        }
    }
    let routes = template_routes();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        routes.keys().collect::<Vec<_>>(),
        "the same routes in both"
    );
    for (route, (function, authenticated)) in &routes {
        let (operation, secured) = &documented[route];
        assert_eq!(
            secured, authenticated,
            "{route:?} ({function}): authorization differs"
        );
        let responses = operation["responses"].as_mapping().unwrap();
        if *authenticated {
            assert_eq!(
                responses.get("401"),
                Some(&reference("Unauthorized")),
                "{route:?}: an authenticated route documents the authorizer's 401"
            );
        }
        // Every route is throttled by API Gateway, which answers first.
        let throttled = responses.get("429");
        assert!(
            throttled == Some(&reference("RateLimited"))
                || throttled == Some(&reference("Throttled")),
            "{route:?}: documents API Gateway's 429"
        );
    }
    // Both of API Gateway's own answers are in its shape.
    let gateway = "#/components/schemas/GatewayMessage";
    for response in ["Unauthorized", "RateLimited", "Throttled"] {
        let schema = serde_yaml::to_string(
            &doc["components"]["responses"][response]["content"]["application/json"]["schema"],
        )
        .unwrap();
        assert!(schema.contains(gateway), "{response}: {schema}");
    }
    // The two unauthenticated routes are the callback and the webhook.
    let open: Vec<_> = routes
        .iter()
        .filter(|(_, (_, authenticated))| !authenticated)
        .map(|((_, path), _)| path.as_str())
        .collect();
    assert_eq!(open, ["/oauth/tiktok/callback", "/webhooks/tiktok"]);
}
