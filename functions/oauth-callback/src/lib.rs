//! The connect's last two steps.
//!
//! - `GET /oauth/tiktok/callback` (no authorizer): TikTok sends the browser
//!   back here. The state is consumed, the code kept for the user who
//!   started the connect, and the browser redirected to the app with
//!   `status=pending&ticket=…`, or `status=error&reason=…`.
//! - `POST /oauth/tiktok/complete` `{"ticket"}` (signed in): the user who
//!   started the connect finishes it and gets the Account; anyone else gets
//!   404 and the ticket is burned.

use lambda_http::{Body, Error, Request, RequestExt, Response, http::Method, http::StatusCode};
use serde::Deserialize;
use shared::{
    domain::secrets::ConnectTicket,
    edge::{
        auth::caller,
        correlation::with_correlation,
        errors::ApiError,
        responses::{json, redirect},
        routes::{segments, unmatched},
    },
    service::oauth::{
        callback::{CallbackParams, OAuthCallback},
        errors::CompleteError,
    },
    support::errors::chain_line,
};

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Callback,
    Complete,
}

impl Route {
    /// TikTok's redirect reaches the callback at whatever path
    /// `OAUTH_REDIRECT_URI` registered (API Gateway's
    /// `/oauth/tiktok/callback`, a function URL locally), so every GET is
    /// the callback: API Gateway routes no other GET here.
    fn of(method: &Method, path: &str) -> Result<Self, ApiError> {
        match (method.clone(), segments(path).as_slice()) {
            (Method::POST, ["oauth", "tiktok", "complete"]) => Ok(Self::Complete),
            (Method::GET, _) => Ok(Self::Callback),
            (_, ["oauth", "tiktok", "callback" | "complete"]) => Err(unmatched(true)),
            _ => Err(unmatched(false)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    ticket: String,
}

pub async fn handle(app: &OAuthCallback, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, respond(app, &request)).await)
}

async fn respond(app: &OAuthCallback, request: &Request) -> Result<Response<Body>, ApiError> {
    match Route::of(request.method(), request.uri().path())? {
        Route::Callback => Ok(callback(app, request).await),
        Route::Complete => {
            let user = caller(request)?;
            let body: CompleteRequest = serde_json::from_slice(request.body().as_ref())
                .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
            // A ticket that is not even well-formed is one we never issued.
            let ticket = ConnectTicket::parse(body.ticket).map_err(|_| CompleteError::NotFound)?;
            Ok(json(StatusCode::OK, &app.complete(&user, &ticket).await?))
        }
    }
}

/// The callback always redirects the browser: to the app, with a ticket or
/// the reason there is none.
async fn callback(app: &OAuthCallback, request: &Request) -> Response<Body> {
    let query = request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let outcome = app.receive(CallbackParams::from_query(&query)).await;
    if let Err(e) = &outcome {
        tracing::warn!(reason = e.reason(), error = %chain_line(e), "oauth callback refused");
    }
    redirect(&app.return_location(&outcome))
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
        assert_eq!(route("GET", "/oauth/tiktok/callback"), Ok(Route::Callback));
        assert_eq!(route("GET", "/"), Ok(Route::Callback));
        assert_eq!(route("POST", "/oauth/tiktok/complete"), Ok(Route::Complete));
        assert_eq!(route("POST", "/oauth/tiktok/callback"), Err(405));
        assert_eq!(route("DELETE", "/oauth/tiktok/complete"), Err(405));
        assert_eq!(route("POST", "/oauth/tiktok/start"), Err(404));
    }
}
