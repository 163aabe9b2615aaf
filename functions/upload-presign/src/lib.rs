//! `/uploads`: presigned uploads of videos for the caller's accounts.
//!
//! - `POST /uploads`: validate, rate-limit, record the upload (for one
//!   account, or, without `account_id`, media for posts), and answer 201
//!   with a presigned PUT (`upload_url`, `method`, `headers`, `expires_at`)
//!   that binds the content type and length.
//! - `GET /uploads/{upload_id}`: the upload and its status.
//!
//! Another user's upload or account answers 404, the same as a missing one.

use std::collections::BTreeMap;

use lambda_http::{Body, Error, Request, Response, http::Method, http::StatusCode};
use serde::Serialize;
use shared::{
    domain::{
        ids::UploadId,
        time::rfc3339,
        upload::{UploadKind, UploadView},
    },
    edge::{
        auth::caller,
        correlation::with_correlation,
        errors::ApiError,
        responses::json,
        routes::{segments, unmatched},
    },
    service::uploads::Uploads,
};

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Create,
    Get(UploadId),
}

impl Route {
    fn of(method: &Method, path: &str) -> Result<Self, ApiError> {
        match (method.clone(), segments(path).as_slice()) {
            (Method::POST, ["uploads"]) => Ok(Self::Create),
            (Method::GET, ["uploads", id]) => Ok(Self::Get(upload_id(id)?)),
            (_, ["uploads"] | ["uploads", _]) => Err(unmatched(true)),
            _ => Err(unmatched(false)),
        }
    }
}

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
    Ok(with_correlation(&request, respond(app, &request)).await)
}

async fn respond(app: &Uploads, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.admit_api_call(&user).await?;
    match Route::of(request.method(), request.uri().path())? {
        Route::Create => {
            let new = UploadKind::parse(request.body().as_ref(), app.max_bytes())?;
            let created = app.create(&user, new).await?;
            Ok(json(
                StatusCode::CREATED,
                &CreatedResponse {
                    upload: created.upload,
                    upload_url: created.put.url.expose().to_owned(),
                    method: "PUT",
                    headers: created.put.headers.into_iter().collect(),
                    expires_at: rfc3339(created.put.expires_at),
                },
            ))
        }
        Route::Get(id) => Ok(json(StatusCode::OK, &app.get(&user, &id).await?)),
    }
}

fn upload_id(raw: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(raw).ok_or_else(|| {
        ApiError::bad_request("invalid_upload_id", "upload_id must be 32 hex digits")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Result<Route, u16> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        Route::of(&method, path).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn routes() {
        let id = UploadId::generate();
        assert_eq!(route("POST", "/uploads"), Ok(Route::Create));
        assert_eq!(route("GET", &format!("/uploads/{id}")), Ok(Route::Get(id)));
        assert_eq!(route("GET", "/uploads"), Err(405));
        assert_eq!(route("DELETE", "/uploads/abc"), Err(405));
        assert_eq!(route("GET", "/uploads/not-an-id"), Err(400));
        assert_eq!(route("GET", "/accounts"), Err(404));
    }
}
