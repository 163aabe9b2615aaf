//! `GET /oauth/tiktok/callback`: TikTok sends the browser back here; the
//! account is connected and the browser redirected to the app, with
//! `status=connected` or `status=error&reason=…`.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::{
    edge::{correlation::with_correlation, responses::redirect},
    service::oauth::callback::{CallbackParams, OAuthCallback},
    support::errors::chain_line,
};

pub async fn handle(app: &OAuthCallback, request: Request) -> Result<Response<Body>, Error> {
    let respond = async {
        let query = request
            .query_string_parameters()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let outcome = app.complete(CallbackParams::from_query(&query)).await;
        if let Err(e) = &outcome {
            tracing::warn!(reason = e.reason(), error = %chain_line(e), "oauth callback refused");
        }
        Ok(redirect(&app.return_location(&outcome)))
    };
    Ok(with_correlation(&request, respond).await)
}
