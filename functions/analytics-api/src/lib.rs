//! Analytics over time, the caller's accounts only.
//!
//! - `GET /accounts/{account_id}/stats?from&to`: daily points (followers,
//!   following, likes, videos) and the change over the range.
//! - `GET /accounts/{account_id}/videos?limit&cursor`: the account's videos,
//!   newest first, with their latest counts and, for ours, the upload and
//!   post.
//! - `GET /accounts/{account_id}/videos/{video_id}/stats?from&to`: one
//!   video's daily points.
//! - `GET /analytics/summary?from&to`: one row per account.
//!
//! Ranges are dates (`YYYY-MM-DD`), both ends included, at most 400 days;
//! the last 30 days by default. Another user's account or video answers
//! 404, the same as a missing one.

use lambda_http::{Body, Error, Request, RequestExt, Response, http::Method, http::StatusCode};
use shared::{
    domain::{analytics::DateRange, ids::AccountId},
    edge::{
        auth::caller,
        correlation::with_correlation,
        errors::ApiError,
        responses::json,
        routes::{segments, unmatched},
    },
    service::analytics::MAX_VIDEO_PAGE,
    startup::AnalyticsApi,
};

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    AccountStats(AccountId),
    Videos(AccountId),
    VideoStats(AccountId, String),
    Summary,
}

impl Route {
    fn of(method: &Method, path: &str) -> Result<Self, ApiError> {
        let route = match segments(path).as_slice() {
            ["accounts", id, "stats"] => Self::AccountStats(account_id(id)?),
            ["accounts", id, "videos"] => Self::Videos(account_id(id)?),
            ["accounts", id, "videos", video, "stats"] => {
                Self::VideoStats(account_id(id)?, video_id(video)?)
            }
            ["analytics", "summary"] => Self::Summary,
            _ => return Err(unmatched(false)),
        };
        if method != Method::GET {
            return Err(unmatched(true));
        }
        Ok(route)
    }
}

pub async fn handle(app: &AnalyticsApi, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, respond(app, &request)).await)
}

async fn respond(app: &AnalyticsApi, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.limiter.admit_api_call(&user).await?;
    let query = request.query_string_parameters();
    let range = || {
        DateRange::parse(
            query.first("from"),
            query.first("to"),
            app.clock.now().date_naive(),
        )
    };
    let history = &app.history;
    match Route::of(request.method(), request.uri().path())? {
        Route::AccountStats(id) => Ok(json(
            StatusCode::OK,
            &history.account_stats(&user, &id, &range()?).await?,
        )),
        Route::Videos(id) => {
            let limit = match query.first("limit") {
                None => 20,
                Some(raw) => raw
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (1..=MAX_VIDEO_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("limit must be 1-{MAX_VIDEO_PAGE}"),
                        )
                    })?,
            };
            Ok(json(
                StatusCode::OK,
                &history
                    .videos(&user, &id, limit, query.first("cursor"))
                    .await?,
            ))
        }
        Route::VideoStats(id, video) => Ok(json(
            StatusCode::OK,
            &history.video_stats(&user, &id, &video, &range()?).await?,
        )),
        Route::Summary => Ok(json(
            StatusCode::OK,
            &history.summary(&user, &range()?).await?,
        )),
    }
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|e| ApiError::bad_request("invalid_account_id", e.to_string()))
}

/// TikTok's video ids are decimal int64s.
fn video_id(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_video_id",
            "video_id must be TikTok's decimal id",
        ));
    }
    Ok(raw.to_owned())
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
        let a = AccountId::parse("a1").unwrap();
        assert_eq!(
            route("GET", "/accounts/a1/stats"),
            Ok(Route::AccountStats(a.clone()))
        );
        assert_eq!(
            route("GET", "/accounts/a1/videos"),
            Ok(Route::Videos(a.clone()))
        );
        assert_eq!(
            route("GET", "/accounts/a1/videos/7291/stats"),
            Ok(Route::VideoStats(a, "7291".into()))
        );
        assert_eq!(route("GET", "/analytics/summary"), Ok(Route::Summary));
        assert_eq!(route("POST", "/analytics/summary"), Err(405));
        assert_eq!(route("GET", "/accounts/a1/videos/x/stats"), Err(400));
        assert_eq!(route("GET", "/posts"), Err(404));
    }
}
