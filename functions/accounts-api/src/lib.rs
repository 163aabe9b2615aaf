//! `/accounts`: the caller's TikTok accounts.
//!
//! - `GET /accounts?limit=&cursor=`: a page of the caller's accounts.
//! - `GET /accounts/{account_id}`: one account.
//! - `POST /accounts/{account_id}/refresh`: refresh its tokens now.
//! - `DELETE /accounts/{account_id}`: revoke at TikTok, erase, disconnect.
//!
//! Another user's account answers 404, the same as a missing one. No
//! response carries a token.

use lambda_http::{Body, Error, Request, RequestExt, Response, http::Method, http::StatusCode};
use serde::Serialize;
use shared::{
    account::{AccountId, AccountView},
    accounts::{Accounts, AccountsError, DEFAULT_PAGE, MAX_PAGE},
    auth::caller,
    error::chain_line,
    http::{ApiError, json, with_correlation},
    ratelimit::API_CALLS_PER_USER,
};

#[derive(Serialize)]
struct ListResponse {
    accounts: Vec<AccountView>,
    next_cursor: Option<String>,
}

pub async fn handle(app: &Accounts, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, route(app, &request)).await)
}

async fn route(app: &Accounts, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.admit(&API_CALLS_PER_USER, user.as_ref())
        .await
        .map_err(edge)?;
    let path = request.uri().path().trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let method = request.method();
    match segments.as_slice() {
        ["accounts"] if method == Method::GET => {
            let query = request.query_string_parameters();
            let limit = match query.first("limit") {
                None => DEFAULT_PAGE,
                Some(raw) => raw
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("limit must be 1 to {MAX_PAGE}"),
                        )
                    })?,
            };
            let listing = app
                .list(&user, limit, query.first("cursor"))
                .await
                .map_err(edge)?;
            Ok(json(
                StatusCode::OK,
                &ListResponse {
                    accounts: listing.accounts,
                    next_cursor: listing.next_cursor,
                },
            ))
        }
        ["accounts", id] if method == Method::GET => {
            let view = app.get(&user, &account_id(id)?).await.map_err(edge)?;
            Ok(json(StatusCode::OK, &view))
        }
        ["accounts", id, "refresh"] if method == Method::POST => {
            let id = account_id(id)?;
            no_body_or_json_object(request)?;
            let view = app.refresh(&user, &id).await.map_err(edge)?;
            Ok(json(StatusCode::OK, &view))
        }
        ["accounts", id] if method == Method::DELETE => {
            app.disconnect(&user, &account_id(id)?)
                .await
                .map_err(edge)?;
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        ["accounts"] | ["accounts", _] | ["accounts", _, "refresh"] => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::not_found()),
    }
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|e| ApiError::bad_request("invalid_account_id", e.to_string()))
}

/// The refresh route takes no parameters: an empty body or a JSON object.
fn no_body_or_json_object(request: &Request) -> Result<(), ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(ApiError::bad_request(
            "invalid_body",
            "the body must be empty or a JSON object",
        )),
    }
}

/// Logs what the caller is not told, then maps to the HTTP error.
fn edge(e: AccountsError) -> ApiError {
    match &e {
        AccountsError::Unavailable(_)
        | AccountsError::Revoke(_)
        | AccountsError::RefreshFailed(_) => {
            tracing::warn!(error = %chain_line(&e), "accounts request failed");
        }
        _ => {}
    }
    ApiError::from(e)
}
