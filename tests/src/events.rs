//! API Gateway HTTP API (payload 2.0) events, as AWS sends them.

use lambda_http::Request;
use serde_json::{Value, json};

/// An HTTP API v2 event. `sub`: the JWT authorizer's verified subject, or
/// none for an unauthenticated route.
pub fn http_event(
    method: &str,
    path: &str,
    query: &[(String, String)],
    sub: Option<&str>,
) -> Value {
    let raw_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let mut params = serde_json::Map::new();
    for (k, v) in query {
        // API Gateway joins repeated keys with commas.
        let joined = match params.get(k).and_then(Value::as_str) {
            Some(prev) => format!("{prev},{v}"),
            None => v.clone(),
        };
        params.insert(k.clone(), Value::String(joined));
    }
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "localapi",
        "domainName": "localapi.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "localapi",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "flows"
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": format!("{method} {path}"),
        "stage": "$default",
        "time": "23/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1795428000000u64
    });
    if let Some(sub) = sub {
        context["authorizer"] = json!({
            "jwt": {"claims": {"sub": sub, "iss": "https://issuer.example"}, "scopes": null}
        });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"host": "localapi.execute-api.us-east-1.amazonaws.com"},
        "requestContext": context,
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    event
}

/// The request lambda_http hands a handler for `event`.
pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}
