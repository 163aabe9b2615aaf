//! The one HTTP client for TikTok, and how every API call is sent and its
//! (small) answer read.

use url::Url;

use super::settings::{TikTokSettings, UploadOrigins};
use crate::{
    adapters::tls,
    domain::{secrets::ClientSecret, tiktok::TikTokError},
};

/// The largest body we read from TikTok; its documented bodies are tiny.
pub(super) const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct TikTokClient {
    pub(super) http: reqwest::Client,
    pub(super) client_key: String,
    pub(super) client_secret: ClientSecret,
    api_base_url: Url,
    pub(super) timeout: std::time::Duration,
    pub(super) upload_origins: UploadOrigins,
}

impl TikTokClient {
    /// `http` is built once at cold start (see [`http_client`]).
    pub fn new(http: reqwest::Client, settings: &TikTokSettings) -> Self {
        Self {
            http,
            client_key: settings.client_key.clone(),
            client_secret: settings.client_secret.clone(),
            api_base_url: settings.api_base_url.clone(),
            timeout: settings.timeout,
            upload_origins: settings.upload_origins.clone(),
        }
    }

    /// The shared HTTP client (the media transfer uses it too).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A POST to one of TikTok's API endpoints, bounded by the API timeout.
    pub(super) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.endpoint(path)).timeout(self.timeout)
    }

    pub(super) fn endpoint(&self, path: &str) -> Url {
        let mut url = self.api_base_url.clone();
        url.set_path(path);
        url
    }
}

/// How long the upload host may stay silent while answering a chunk.
const TRANSFER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("the TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// The one HTTP client for TikTok, built once at cold start: rustls with
/// the compiled-in roots ([`tls::client_config`]), no redirects (TikTok's
/// API never redirects; a redirect is a fault), a connect timeout and a
/// read timeout. API calls add their own overall timeout
/// (`TIKTOK_TIMEOUT_SECONDS`); chunk uploads, which take as long as their
/// bytes take, do not.
pub fn http_client(settings: &TikTokSettings) -> Result<reqwest::Client, HttpClientError> {
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls::client_config()?)
        .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(5)))
        .read_timeout(TRANSFER_READ_TIMEOUT.max(settings.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tiktok-manager/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Sends a request to TikTok and reads its (small) answer.
pub(super) async fn call(request: reqwest::RequestBuilder) -> Result<(u16, String), TikTokError> {
    let response = request.send().await.map_err(from_reqwest)?;
    read_body(response).await
}

/// Reads an answer of at most [`MAX_BODY`] bytes, chunk by chunk: a
/// larger one is refused as soon as it passes the cap, whatever its
/// `Content-Length` claims, and never held whole.
pub(super) async fn read_body(
    mut response: reqwest::Response,
) -> Result<(u16, String), TikTokError> {
    let status = response.status().as_u16();
    let too_large = || TikTokError::Malformed {
        status,
        reason: "body too large".into(),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(from_reqwest)? {
        if chunk.len() > MAX_BODY.saturating_sub(body.len()) {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

pub(super) fn from_reqwest(e: reqwest::Error) -> TikTokError {
    if e.is_timeout() {
        TikTokError::Timeout
    } else {
        TikTokError::Network(Box::new(e.without_url()))
    }
}
