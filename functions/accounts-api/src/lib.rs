//! `/accounts`: the caller's TikTok accounts.
//!
//! - `GET /accounts?limit=&cursor=`: a page of the caller's accounts.
//! - `GET /accounts/{account_id}`: one account.
//! - `POST /accounts/{account_id}/refresh`: refresh its tokens now.
//! - `DELETE /accounts/{account_id}`: revoke at TikTok, erase, disconnect.
//! - `GET /accounts/{account_id}/creator-info`: what the creator may post now.
//!
//! Another user's account answers 404, the same as a missing one. No
//! response carries a token.

use lambda_http::{Body, Error, Request, RequestExt, Response, http::Method, http::StatusCode};
use serde::Serialize;
use shared::{
    domain::{account::AccountView, ids::AccountId},
    edge::{
        auth::caller,
        correlation::with_correlation,
        errors::ApiError,
        responses::{json, no_content},
        routes::{segments, unmatched},
    },
    service::accounts::{Accounts, DEFAULT_PAGE, MAX_PAGE},
    support::deadline::Deadline,
};

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    List,
    Get(AccountId),
    Refresh(AccountId),
    Disconnect(AccountId),
    CreatorInfo(AccountId),
}

impl Route {
    fn of(method: &Method, path: &str) -> Result<Self, ApiError> {
        match (method.clone(), segments(path).as_slice()) {
            (Method::GET, ["accounts"]) => Ok(Self::List),
            (Method::GET, ["accounts", id]) => Ok(Self::Get(account_id(id)?)),
            (Method::POST, ["accounts", id, "refresh"]) => Ok(Self::Refresh(account_id(id)?)),
            (Method::DELETE, ["accounts", id]) => Ok(Self::Disconnect(account_id(id)?)),
            (Method::GET, ["accounts", id, "creator-info"]) => {
                Ok(Self::CreatorInfo(account_id(id)?))
            }
            (
                _,
                ["accounts"]
                | ["accounts", _]
                | ["accounts", _, "refresh"]
                | ["accounts", _, "creator-info"],
            ) => Err(unmatched(true)),
            _ => Err(unmatched(false)),
        }
    }
}

#[derive(Serialize)]
struct ListResponse {
    accounts: Vec<AccountView>,
    next_cursor: Option<String>,
}

pub async fn handle(app: &Accounts, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, respond(app, &request)).await)
}

async fn respond(app: &Accounts, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.admit_api_call(&user).await?;
    match Route::of(request.method(), request.uri().path())? {
        Route::List => {
            let query = request.query_string_parameters();
            let limit = page_size(query.first("limit"))?;
            let listing = app.list(&user, limit, query.first("cursor")).await?;
            Ok(json(
                StatusCode::OK,
                &ListResponse {
                    accounts: listing.accounts,
                    next_cursor: listing.next_cursor,
                },
            ))
        }
        Route::Get(id) => Ok(json(StatusCode::OK, &app.get(&user, &id).await?)),
        Route::Refresh(id) => {
            no_body_or_json_object(request)?;
            Ok(json(
                StatusCode::OK,
                &app.refresh(&user, &id, deadline_of(request)).await?,
            ))
        }
        Route::Disconnect(id) => {
            app.disconnect(&user, &id, deadline_of(request)).await?;
            Ok(no_content())
        }
        Route::CreatorInfo(id) => Ok(json(StatusCode::OK, &app.creator_info(&user, &id).await?)),
    }
}

/// The invocation's deadline, from the Lambda context.
fn deadline_of(request: &Request) -> Deadline {
    request
        .lambda_context_ref()
        .map_or(Deadline::NONE, |context| {
            Deadline::from_epoch_millis(context.deadline)
        })
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|e| ApiError::bad_request("invalid_account_id", e.to_string()))
}

/// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
fn page_size(raw: Option<&str>) -> Result<i32, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE);
    };
    raw.parse::<i32>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request("invalid_limit", format!("limit must be 1 to {MAX_PAGE}"))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Result<Route, u16> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        Route::of(&method, path).map_err(|e| e.status.as_u16())
    }

    #[test]
    fn routes() {
        let id = || AccountId::parse("open-1").unwrap();
        assert_eq!(route("GET", "/accounts"), Ok(Route::List));
        assert_eq!(route("GET", "/accounts/open-1"), Ok(Route::Get(id())));
        assert_eq!(
            route("POST", "/accounts/open-1/refresh"),
            Ok(Route::Refresh(id()))
        );
        assert_eq!(
            route("DELETE", "/accounts/open-1"),
            Ok(Route::Disconnect(id()))
        );
        assert_eq!(
            route("GET", "/accounts/open-1/creator-info"),
            Ok(Route::CreatorInfo(id()))
        );
        assert_eq!(route("POST", "/accounts/open-1/creator-info"), Err(405));
        assert_eq!(route("POST", "/accounts"), Err(405));
        assert_eq!(route("PUT", "/accounts/open-1"), Err(405));
        assert_eq!(route("GET", "/accounts/open-1/refresh"), Err(405));
        assert_eq!(route("GET", "/accounts/a!b"), Err(400));
        assert_eq!(route("GET", "/uploads"), Err(404));
        assert_eq!(route("GET", "/accounts/open-1/refresh/x"), Err(404));
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE));
        assert_eq!(page_size(Some("100")), Ok(100));
        for bad in ["0", "101", "ten", "-1"] {
            assert_eq!(page_size(Some(bad)).unwrap_err().code, "invalid_limit");
        }
    }
}
