//! The caller's identity, from the API Gateway JWT authorizer's claims.

use lambda_http::{Request, RequestExt, request::RequestContext};

use super::errors::ApiError;
use crate::domain::ids::UserId;

/// The `sub` claim the JWT authorizer verified. No claim: 401.
pub fn caller(request: &Request) -> Result<UserId, ApiError> {
    let sub = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .cloned(),
        _ => None,
    };
    sub.and_then(|s| UserId::parse(s).ok())
        .ok_or_else(ApiError::unauthorized)
}
