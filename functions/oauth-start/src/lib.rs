//! `GET /oauth/tiktok/start`: the caller gets a TikTok authorize URL bound to
//! a fresh single-use state.

use chrono::Utc;
use lambda_http::{Body, Error, Request, Response, http::StatusCode};
use serde::Serialize;
use shared::{
    account::rfc3339,
    auth::caller,
    error::chain_line,
    http::{ApiError, json, with_correlation},
    oauth::{OAuthStart, StartError},
};

#[derive(Serialize)]
struct StartResponse {
    authorize_url: String,
    expires_at: String,
}

pub async fn handle(app: &OAuthStart, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, start(app, &request)).await)
}

async fn start(app: &OAuthStart, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    let redirect = app.begin(&user, Utc::now()).await.map_err(|e| match e {
        StartError::RateLimited {
            retry_after_seconds,
        } => ApiError::rate_limited(retry_after_seconds),
        StartError::Store(_) => {
            tracing::error!(error = %chain_line(&e), "oauth start failed");
            ApiError::unavailable()
        }
    })?;
    Ok(json(
        StatusCode::OK,
        &StartResponse {
            authorize_url: redirect.authorize_url.into(),
            expires_at: rfc3339(redirect.expires_at),
        },
    ))
}
