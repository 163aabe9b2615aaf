//! `POST /webhooks/tiktok`: TikTok's signed event deliveries.
//!
//! The `TikTok-Signature` is checked on the raw body first (401 when it is
//! missing, wrong or stale). A delivery seen before answers 200 and changes
//! nothing. `authorization.removed` disconnects the account and erases its
//! tokens; `post.publish.*` settles the upload with that `publish_id`.

use lambda_http::{Body, Error, Request, Response, http::Method, http::StatusCode};
use serde_json::json;
use shared::{
    error::chain_line,
    http::{ApiError, json, with_correlation},
    webhook::{Receipt, WebhookError, Webhooks},
};

pub async fn handle(app: &Webhooks, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, route(app, &request)).await)
}

async fn route(app: &Webhooks, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let signature = request
        .headers()
        .get("tiktok-signature")
        .and_then(|v| v.to_str().ok());
    match app
        .receive(signature, request.body().as_ref(), chrono::Utc::now())
        .await
    {
        Ok(receipt) => Ok(json(
            StatusCode::OK,
            &json!({ "duplicate": receipt == Receipt::Duplicate }),
        )),
        Err(WebhookError::Signature(e)) => {
            tracing::warn!(reason = %e, "webhook refused");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "the TikTok-Signature is missing, wrong or stale",
            ))
        }
        Err(WebhookError::Malformed(e)) => {
            tracing::warn!(error = %e, "webhook body refused");
            Err(ApiError::bad_request("invalid_event", e.to_string()))
        }
        Err(e @ WebhookError::Unavailable(_)) => {
            tracing::warn!(error = %chain_line(&e), "webhook not applied; TikTok will retry");
            Err(ApiError::unavailable())
        }
    }
}
