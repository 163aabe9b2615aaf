//! Correlation ids: one per request, from the caller or API Gateway, on
//! every log line of the request and back in the response.

use lambda_http::{Body, Response, http::HeaderValue};

use super::errors::ApiError;

/// The id that ties one request's log lines together, across our functions
/// and the client: the caller's `X-Correlation-Id` when it is a plain token
/// (1-64 of `A-Za-z0-9._-`), else API Gateway's request id. It is a field of
/// the request's span and comes back in the response's `X-Correlation-Id`.
/// An error from `respond` becomes its error response.
pub async fn with_correlation(
    request: &lambda_http::Request,
    respond: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    use tracing::Instrument;
    let id = correlation_id(request);
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = respond
        .instrument(span)
        .await
        .unwrap_or_else(ApiError::into_response);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

fn correlation_id(request: &lambda_http::Request) -> String {
    use lambda_http::{RequestExt, request::RequestContext};
    let plain = |v: &str| {
        (1..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if let Some(given) = request
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| plain(v))
    {
        return given.to_owned();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .filter(|v| plain(v))
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
