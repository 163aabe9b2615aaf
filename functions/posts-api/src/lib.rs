//! `/posts`: one uploaded video to many of the caller's accounts, now or
//! at a chosen time.
//!
//! - `POST /posts`: validate, record the post and its targets, schedule it
//!   (or send it on now); 201 with the Post.
//! - `GET /posts?account_id=&status=&from=&to=&limit=&cursor=`: a page of
//!   the caller's posts, latest `publish_at` first.
//! - `GET /posts/{post_id}`: the post, one line per target.
//! - `PATCH /posts/{post_id}`: move it or change its settings, while
//!   nothing has started (409 `post_started` after).
//! - `DELETE /posts/{post_id}`: cancel every target that has not started;
//!   200 with the Post.
//!
//! Another user's post, video or account answers 404, the same as a
//! missing one.

use lambda_http::{Body, Error, Request, RequestExt, Response, http::Method, http::StatusCode};
use shared::{
    domain::{
        ids::PostId,
        post::{NewPost, PostPatch, PostRequest},
    },
    edge::{
        auth::caller,
        correlation::with_correlation,
        errors::ApiError,
        responses::json,
        routes::{segments, unmatched},
    },
    service::posts::{ListRequest, Posts},
};

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Create,
    List,
    Get(PostId),
    Change(PostId),
    Cancel(PostId),
}

impl Route {
    fn of(method: &Method, path: &str) -> Result<Self, ApiError> {
        match (method.clone(), segments(path).as_slice()) {
            (Method::POST, ["posts"]) => Ok(Self::Create),
            (Method::GET, ["posts"]) => Ok(Self::List),
            (Method::GET, ["posts", id]) => Ok(Self::Get(post_id(id)?)),
            (Method::PATCH, ["posts", id]) => Ok(Self::Change(post_id(id)?)),
            (Method::DELETE, ["posts", id]) => Ok(Self::Cancel(post_id(id)?)),
            (_, ["posts"] | ["posts", _]) => Err(unmatched(true)),
            _ => Err(unmatched(false)),
        }
    }
}

pub async fn handle(app: &Posts, request: Request) -> Result<Response<Body>, Error> {
    Ok(with_correlation(&request, respond(app, &request)).await)
}

async fn respond(app: &Posts, request: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller(request)?;
    app.admit_api_call(&user).await?;
    match Route::of(request.method(), request.uri().path())? {
        Route::Create => {
            let body: PostRequest = body(request)?;
            let new = NewPost::parse(body, app.clock().now())?;
            Ok(json(StatusCode::CREATED, &app.create(&user, new).await?))
        }
        Route::List => {
            let query = request.query_string_parameters();
            let field = |name: &str| query.first(name).map(str::to_owned);
            let listing = app
                .list(
                    &user,
                    ListRequest {
                        account_id: field("account_id"),
                        status: field("status"),
                        from: field("from"),
                        to: field("to"),
                        limit: field("limit"),
                        cursor: field("cursor"),
                    },
                )
                .await?;
            Ok(json(StatusCode::OK, &listing))
        }
        Route::Get(id) => Ok(json(StatusCode::OK, &app.get(&user, &id).await?)),
        Route::Change(id) => {
            let patch: PostPatch = body(request)?;
            Ok(json(StatusCode::OK, &app.change(&user, &id, patch).await?))
        }
        Route::Cancel(id) => Ok(json(StatusCode::OK, &app.cancel(&user, &id).await?)),
    }
}

fn body<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    serde_json::from_slice(request.body().as_ref())
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

fn post_id(raw: &str) -> Result<PostId, ApiError> {
    PostId::parse(raw)
        .ok_or_else(|| ApiError::bad_request("invalid_post_id", "post_id must be 32 hex digits"))
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
        let id = PostId::generate();
        assert_eq!(route("POST", "/posts"), Ok(Route::Create));
        assert_eq!(route("GET", "/posts"), Ok(Route::List));
        assert_eq!(
            route("GET", &format!("/posts/{id}")),
            Ok(Route::Get(id.clone()))
        );
        assert_eq!(
            route("PATCH", &format!("/posts/{id}")),
            Ok(Route::Change(id.clone()))
        );
        assert_eq!(
            route("DELETE", &format!("/posts/{id}")),
            Ok(Route::Cancel(id))
        );
        assert_eq!(route("PUT", "/posts"), Err(405));
        assert_eq!(route("GET", "/posts/nope"), Err(400));
        assert_eq!(route("GET", "/uploads"), Err(404));
    }
}
