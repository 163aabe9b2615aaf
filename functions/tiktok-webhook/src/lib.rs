//! `POST /webhooks/tiktok`: TikTok's signed event deliveries.
//!
//! The `TikTok-Signature` is checked on the raw body first (401 when it is
//! missing, wrong or stale). A delivery seen before answers 200 and changes
//! nothing. `authorization.removed` disconnects the account and erases its
//! tokens; `post.publish.*` settles the upload with that `publish_id`.

use lambda_http::{Body, Error, Request, Response, http::Method, http::StatusCode};
use serde_json::json;
use shared::{
    edge::{correlation::with_correlation, errors::ApiError, responses::json},
    service::webhooks::{Receipt, Webhooks},
};

pub async fn handle(app: &Webhooks, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, receive(app, &request)).await)
}

async fn receive(app: &Webhooks, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let signature = request
        .headers()
        .get("tiktok-signature")
        .and_then(|v| v.to_str().ok());
    let receipt = app.receive(signature, request.body().as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "duplicate": receipt == Receipt::Duplicate }),
    ))
}
