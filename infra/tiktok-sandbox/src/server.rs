use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, Request, State as AxumState},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;

use crate::{
    api::api_error,
    control, display, posting,
    state::{CodeGrant, Fault, FaultKind, SandboxConfig, State, log_id, now, random_token},
    upload, webhooks,
};

/// What every handler shares.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub state: Mutex<State>,
    /// The sandbox's own root URL (also the upload host).
    pub base_url: Url,
    /// The one HTTP client webhooks go out through.
    pub http: reqwest::Client,
    /// The runtime background work (webhooks, processing) runs on.
    pub runtime: tokio::runtime::Handle,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a sandbox bug; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A sandbox serving on a local port until dropped.
pub struct RunningSandbox {
    base_url: Url,
    pub(crate) shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl RunningSandbox {
    /// The API host (`TIKTOK_API_BASE_URL`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The authorize page (`TIKTOK_AUTH_URL`).
    pub fn auth_url(&self) -> Url {
        let mut url = self.base_url.clone();
        url.set_path("/v2/auth/authorize/");
        url
    }

    /// Adds a fault (see [`Fault`]); faults apply in the order added.
    pub fn add_fault(&self, fault: Fault) {
        self.shared.state().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    /// Delays every TikTok (and upload-host) request by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// How many requests reached `path` (faulted ones included).
    pub fn calls(&self, path: &str) -> u64 {
        self.shared.state().calls.get(path).copied().unwrap_or(0)
    }

    /// Every token, code and secret the sandbox issued or was configured
    /// with, for tests that prove none leaks.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.shared.state().issued_secrets.clone();
        secrets.push(self.shared.config.client_secret.clone());
        secrets
    }

    /// Issues a fresh grant for `open_id` directly, as if the user had just
    /// authorised `scopes`: returns (access token, refresh token).
    pub fn issue_grant(&self, open_id: &str, scopes: &str) -> (String, String) {
        let mut state = self.shared.state();
        state.user(Some(open_id));
        state.issue(&self.shared.config, open_id, scopes)
    }

    /// How often `token` was presented to the token, revoke, user-info or
    /// Content Posting endpoints.
    pub fn token_calls(&self, token: &str) -> u64 {
        self.shared
            .state()
            .token_calls
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    /// Successful refreshes of `open_id`'s tokens.
    pub fn rotations(&self, open_id: &str) -> u64 {
        self.shared
            .state()
            .rotations
            .get(open_id)
            .copied()
            .unwrap_or(0)
    }

    /// All `invalid_grant` answers given so far.
    pub fn invalid_grants(&self) -> u64 {
        self.shared.state().invalid_grants.values().sum()
    }

    /// The refresh token that currently works for `open_id`, if any.
    pub fn current_refresh_token(&self, open_id: &str) -> Option<String> {
        let t = now();
        self.shared
            .state()
            .refresh
            .iter()
            .find(|(_, g)| g.open_id == open_id && g.current && g.expires_at > t)
            .map(|(token, _)| token.clone())
    }

    /// Whether `open_id` still has a live (unrevoked, unexpired) access token.
    /// Whether `open_id` still has a grant for this app: a live access
    /// token, or a current refresh token that can get one.
    pub fn has_live_grant(&self, open_id: &str) -> bool {
        let t = now();
        let state = self.shared.state();
        state
            .access
            .values()
            .any(|g| g.open_id == open_id && !g.revoked && g.expires_at > t)
            || state
                .refresh
                .values()
                .any(|g| g.open_id == open_id && g.current && g.expires_at > t)
    }

    /// Ends the life of `open_id`'s access tokens now (their refresh tokens
    /// stay current): what an hour or two of waiting would do.
    pub fn expire_access_tokens(&self, open_id: &str) {
        let t = now();
        for g in self
            .shared
            .state()
            .access
            .values_mut()
            .filter(|g| g.open_id == open_id)
        {
            g.expires_at = t.saturating_sub(1);
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a sandbox on `addr` (port 0 for any free port).
pub async fn spawn(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{local}/"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut state = State::default();
    state.webhooks.url = config.webhook_url.clone();
    let shared = Arc::new(Shared {
        config,
        state: Mutex::new(state),
        base_url: base_url.clone(),
        http,
        runtime: tokio::runtime::Handle::current(),
    });
    let app = router(shared.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox {
        base_url,
        shared,
        shutdown: Some(tx),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    let tiktok = Router::new()
        .route("/v2/auth/authorize/", get(authorize))
        .route("/v2/oauth/token/", post(token))
        .route("/v2/oauth/revoke/", post(revoke))
        .route("/v2/user/info/", get(display::user_info))
        .route("/v2/video/list/", post(display::video_list))
        .route("/v2/video/query/", post(display::video_query))
        .route(
            "/v2/post/publish/creator_info/query/",
            post(posting::creator_info),
        )
        .route("/v2/post/publish/video/init/", post(posting::video_init))
        .route(
            "/v2/post/publish/inbox/video/init/",
            post(posting::inbox_init),
        )
        .route(
            "/v2/post/publish/status/fetch/",
            post(posting::status_fetch),
        )
        .route(
            "/upload/",
            put(upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .layer(middleware::from_fn_with_state(shared.clone(), faults));
    let control = Router::new()
        .route("/sandbox/faults", post(add_fault).delete(clear_faults))
        .route("/sandbox/latency", post(set_latency))
        .route("/sandbox/calls", get(calls))
        .route("/sandbox/grants", post(issue_grant))
        .route("/sandbox/stats", get(stats))
        .route(
            "/sandbox/sink",
            put(upload::sink).layer(DefaultBodyLimit::disable()),
        )
        .merge(control::routes());
    tiktok.merge(control).with_state(shared)
}

/// Counts calls, then applies latency and any matching fault.
async fn faults(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let (latency, fault) = {
        let mut state = shared.state();
        *state.calls.entry(path.clone()).or_default() += 1;
        (state.latency, state.take_fault(&path))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let oauth = path.starts_with("/v2/oauth/");
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(Duration::from_secs(300)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(FaultKind::Malformed) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html>this is not json",
        )
            .into_response(),
        Some(FaultKind::Endless) => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let body = futures::stream::repeat_with(move || {
                Ok::<_, std::convert::Infallible>(chunk.clone())
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(body),
            )
                .into_response()
        }
        Some(FaultKind::RateLimited) => api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Too many requests",
        ),
        Some(FaultKind::StoredThen(code)) => {
            let _real = next.run(request).await;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            api_error(status, "internal_error", "The answer was lost")
        }
        Some(FaultKind::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if oauth {
                oauth_error(status, "server_error", "Internal server error")
            } else {
                api_error(status, "internal_error", "Internal server error")
            }
        }
    }
}

/// A flat OAuth error, as the token and revoke endpoints answer.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description, "log_id": log_id()})),
    )
        .into_response()
}

fn bad_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("TikTok sandbox: {message}"),
    )
        .into_response()
}

/// The authorize page: validates the request like TikTok and, playing the
/// user, approves (or denies with `sandbox_decision=deny`). A browser that
/// has not decided yet (it asks for HTML, and names neither `sandbox_user`
/// nor `sandbox_decision`) gets a consent page first, where a person picks
/// the TikTok user and approves or denies; programs are answered at once.
async fn authorize(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let config = &shared.config;
    if q.get("client_key") != Some(&config.client_key) {
        return bad_page("unknown client_key");
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad_page("response_type must be code");
    }
    let Some(redirect_uri) = q
        .get("redirect_uri")
        .filter(|r| config.redirect_uris.contains(r))
    else {
        return bad_page("redirect_uri is not registered for this app");
    };
    let Ok(mut target) = Url::parse(redirect_uri) else {
        return bad_page("redirect_uri is not a URL");
    };
    let scopes: Vec<&str> = q
        .get("scope")
        .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return bad_page("scope is required");
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !q.contains_key("sandbox_user") && !q.contains_key("sandbox_decision") {
        return consent_page(&q, &scopes);
    }
    {
        let mut pairs = target.query_pairs_mut();
        if q.get("sandbox_decision").map(String::as_str) == Some("deny") {
            pairs
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The user denied the request");
        } else {
            let granted = q
                .get("sandbox_scopes")
                .cloned()
                .unwrap_or_else(|| scopes.join(","));
            let code = random_token("");
            let mut state = shared.state();
            let user = state.user(
                q.get("sandbox_user")
                    .map(|u| u.trim())
                    .filter(|u| !u.is_empty()),
            );
            state.codes.insert(
                code.clone(),
                CodeGrant {
                    open_id: user.open_id,
                    scopes: granted.clone(),
                    redirect_uri: redirect_uri.clone(),
                    expires_at: now() + config.code_ttl,
                },
            );
            state.issued_secrets.push(code.clone());
            pairs
                .append_pair("code", &code)
                .append_pair("scopes", &granted);
        }
        if let Some(s) = q.get("state") {
            pairs.append_pair("state", s);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// The consent screen a browser sees: the app's scopes, a TikTok user to
/// act as (a new one when left empty), and Authorize or Deny. The form
/// sends the same request back with the person's decision.
fn consent_page(q: &HashMap<String, String>, scopes: &[&str]) -> Response {
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let items: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TikTok sandbox: authorize</title>
<style>body{{font:16px system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}
label,input{{display:block;font:inherit;margin:.4rem 0}}input{{width:100%;padding:.4rem}}
button{{font:inherit;padding:.5rem 1rem;margin-right:.5rem}}</style></head><body>
<h1>TikTok sandbox</h1>
<p>An app asks to use your TikTok account with these scopes:</p><ul>{items}</ul>
<form method="get" action="/v2/auth/authorize/">{hidden}
<label for="sandbox_user">TikTok user (open_id; empty for a new one)</label>
<input id="sandbox_user" name="sandbox_user" maxlength="64" pattern="[A-Za-z0-9._-]*">
<button type="submit" name="sandbox_decision" value="allow">Authorize</button>
<button type="submit" name="sandbox_decision" value="deny">Deny</button>
</form></body></html>"#
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A flat OAuth error waiting to be sent.
struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        oauth_error(self.status, self.error, self.description)
    }
}

/// Parses a form body, insisting on the documented content type.
fn form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, OAuthFailure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthFailure {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: "The request parameters are malformed.",
        });
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn check_client(config: &SandboxConfig, f: &HashMap<String, String>) -> Result<(), OAuthFailure> {
    if f.get("client_key") != Some(&config.client_key)
        || f.get("client_secret") != Some(&config.client_secret)
    {
        return Err(OAuthFailure {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Client key or secret is invalid.",
        });
    }
    Ok(())
}

async fn token(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check_client(&shared.config, &f) {
        return r.into_response();
    }
    let config = &shared.config;
    let mut state = shared.state();
    let t = now();
    let (open_id, scopes, refresh_expires_at) = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = f.get("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Code is missed in request.",
                );
            };
            // Single use: a code is gone after its first presentation.
            let Some(grant) = state.codes.remove(code) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code is expired.",
                );
            };
            if grant.expires_at <= t {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code is expired.",
                );
            }
            if f.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Redirect_uri is not matched with the uri when requesting code.",
                );
            }
            (grant.open_id, grant.scopes, t + config.refresh_ttl)
        }
        Some("refresh_token") => {
            let Some(presented) = f.get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Refresh token is missed in request.",
                );
            };
            *state.token_calls.entry(presented.clone()).or_default() += 1;
            let usable = state
                .refresh
                .get(presented)
                .map(|g| (g.open_id.clone(), g.current && g.expires_at > t));
            let Some((open_id, true)) = usable else {
                let open_id = usable.map(|(o, _)| o).unwrap_or_default();
                *state.invalid_grants.entry(open_id).or_default() += 1;
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Refresh token is invalid or expired.",
                );
            };
            *state.rotations.entry(open_id).or_default() += 1;
            let Some(grant) = state.refresh.get_mut(presented) else {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "grant vanished",
                );
            };
            // Strict rotation: the presented token stops working now. The
            // new one keeps the original expiry (not extended by refresh).
            grant.current = false;
            (
                grant.open_id.clone(),
                grant.scopes.clone(),
                grant.expires_at,
            )
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The grant type is not supported.",
            );
        }
    };
    let (access, refresh) = state.issue(config, &open_id, &scopes);
    if let Some(g) = state.refresh.get_mut(&refresh) {
        g.expires_at = refresh_expires_at;
    }
    Json(json!({
        "access_token": access,
        "expires_in": config.access_ttl,
        "open_id": open_id,
        "refresh_expires_in": refresh_expires_at.saturating_sub(t),
        "refresh_token": refresh,
        "scope": scopes,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn revoke(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check_client(&shared.config, &f) {
        return r.into_response();
    }
    let Some(token) = f.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Token is missed in request.",
        );
    };
    // Revoking the access token ends the whole authorization: every token of
    // that user for this app stops working, and the app hears
    // `authorization.removed` with reason 5 (developer revoked). Only a
    // token that "bears the authorization" does: an expired or unknown one
    // gets the same `{}` and ends nothing (TikTok's answer to it is not
    // documented; this is the worst case).
    let t = now();
    let open_id = shared
        .state()
        .access
        .get(token)
        .filter(|g| !g.revoked && g.expires_at > t)
        .map(|g| g.open_id.clone());
    if let Some(open_id) = open_id {
        webhooks::authorization_removed(&shared, &open_id, 5);
    }
    Json(json!({})).into_response()
}

async fn add_fault(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(fault): Json<Fault>,
) -> StatusCode {
    shared.state().faults.push(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(AxumState(shared): AxumState<Arc<Shared>>) -> StatusCode {
    shared.state().faults.clear();
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct Latency {
    ms: u64,
}

async fn set_latency(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(l): Json<Latency>,
) -> StatusCode {
    shared.state().latency = Duration::from_millis(l.ms);
    StatusCode::NO_CONTENT
}

async fn calls(AxumState(shared): AxumState<Arc<Shared>>) -> Json<HashMap<String, u64>> {
    Json(shared.state().calls.clone())
}

#[derive(serde::Deserialize)]
struct GrantRequest {
    open_id: String,
    scope: String,
}

/// Issues a grant directly, as if the user had just authorised (seeding).
async fn issue_grant(
    AxumState(shared): AxumState<Arc<Shared>>,
    Json(g): Json<GrantRequest>,
) -> Json<Value> {
    let mut state = shared.state();
    state.user(Some(&g.open_id));
    let (access, refresh) = state.issue(&shared.config, &g.open_id, &g.scope);
    Json(json!({"access_token": access, "refresh_token": refresh}))
}

/// Totals: successful rotations and `invalid_grant` answers.
async fn stats(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Value> {
    let state = shared.state();
    Json(json!({
        "rotations": state.rotations.values().sum::<u64>(),
        "invalid_grants": state.invalid_grants.values().sum::<u64>(),
    }))
}
