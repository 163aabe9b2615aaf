//! `/uploads`: presigned uploads of videos for the caller's accounts.
//!
//! - `POST /uploads`: validate, rate-limit, record the upload, and answer
//!   201 with a presigned PUT (`upload_url`, `method`, `headers`,
//!   `expires_at`) that binds the content type and length.
//! - `GET /uploads/{upload_id}`: the upload and its status.
//!
//! Another user's upload or account answers 404, the same as a missing one.

use std::collections::BTreeMap;

use lambda_http::{Body, Error, Request, Response, http::Method, http::StatusCode};
use serde::Serialize;
use shared::{
    account::rfc3339,
    auth::caller,
    error::chain_line,
    http::{ApiError, json, with_correlation},
    ratelimit::API_CALLS_PER_USER,
    upload::{NewUpload, UploadId, UploadRequest, UploadView},
    uploads::{Uploads, UploadsError},
};

#[derive(Serialize)]
struct CreatedResponse {
    #[serde(flatten)]
    upload: UploadView,
    upload_url: String,
    method: &'static str,
    headers: BTreeMap<String, String>,
    expires_at: String,
}

pub async fn handle(app: &Uploads, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, route(app, &request)).await)
}

async fn route(app: &Uploads, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.admit(&API_CALLS_PER_USER, user.as_ref())
        .await
        .map_err(edge)?;
    let path = request.uri().path().trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let method = request.method();
    match segments.as_slice() {
        ["uploads"] if method == Method::POST => {
            let body: UploadRequest = serde_json::from_slice(request.body().as_ref())
                .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
            let new = NewUpload::parse(body, app.max_bytes())?;
            let created = app.create(&user, new).await.map_err(edge)?;
            Ok(json(
                StatusCode::CREATED,
                &CreatedResponse {
                    upload: created.upload.view(),
                    upload_url: created.put.url.expose().to_owned(),
                    method: "PUT",
                    headers: created.put.headers.into_iter().collect(),
                    expires_at: rfc3339(created.put.expires_at),
                },
            ))
        }
        ["uploads", id] if method == Method::GET => {
            let id = UploadId::parse(id).ok_or_else(|| {
                ApiError::bad_request("invalid_upload_id", "upload_id must be 32 hex digits")
            })?;
            let view = app.get(&user, &id).await.map_err(edge)?;
            Ok(json(StatusCode::OK, &view))
        }
        ["uploads"] | ["uploads", _] => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found()),
    }
}

/// Logs what the caller is not told, then maps to the HTTP error.
fn edge(e: UploadsError) -> ApiError {
    if let UploadsError::Unavailable(_) = &e {
        tracing::warn!(error = %chain_line(&e), "uploads request failed");
    }
    ApiError::from(e)
}
