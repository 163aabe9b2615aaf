//! `GET /oauth/tiktok/start`: the caller gets a TikTok authorize URL bound to
//! a fresh single-use state.

use lambda_http::{Body, Error, Request, Response, http::StatusCode};
use serde::Serialize;
use shared::{
    domain::time::rfc3339,
    edge::{auth::caller, correlation::with_correlation, errors::ApiError, responses::json},
    service::oauth::start::OAuthStart,
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
    let redirect = app.begin(&user).await?;
    Ok(json(
        StatusCode::OK,
        &StartResponse {
            authorize_url: redirect.authorize_url.into(),
            expires_at: rfc3339(redirect.expires_at),
        },
    ))
}
