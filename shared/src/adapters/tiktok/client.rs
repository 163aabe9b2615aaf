//! The one HTTP client for TikTok, and how every API call is sent and its
//! (small) answer read.

use url::Url;

use super::settings::TikTokSettings;
use crate::domain::{secrets::ClientSecret, tiktok::TikTokError};

/// The largest body we read from TikTok; its documented bodies are tiny.
pub(super) const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct TikTokClient {
    pub(super) http: reqwest::Client,
    pub(super) client_key: String,
    pub(super) client_secret: ClientSecret,
    api_base_url: Url,
    pub(super) timeout: std::time::Duration,
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

/// The one HTTP client for TikTok, built once at cold start: rustls,
/// no redirects (TikTok's API never redirects; a redirect is a fault), a
/// connect timeout and a read timeout. API calls add their own overall
/// timeout (`TIKTOK_TIMEOUT_SECONDS`); chunk uploads, which take as long as
/// their bytes take, do not.
pub fn http_client(settings: &TikTokSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(5)))
        .read_timeout(TRANSFER_READ_TIMEOUT.max(settings.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tiktok-manager/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends a request to TikTok and reads its (small) answer.
pub(super) async fn call(request: reqwest::RequestBuilder) -> Result<(u16, String), TikTokError> {
    let response = request.send().await.map_err(from_reqwest)?;
    read_body(response).await
}

pub(super) async fn read_body(response: reqwest::Response) -> Result<(u16, String), TikTokError> {
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(TikTokError::Malformed {
            status,
            reason: "body too large".into(),
        });
    }
    let bytes = response.bytes().await.map_err(from_reqwest)?;
    if bytes.len() > MAX_BODY {
        return Err(TikTokError::Malformed {
            status,
            reason: "body too large".into(),
        });
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

pub(super) fn from_reqwest(e: reqwest::Error) -> TikTokError {
    if e.is_timeout() {
        TikTokError::Timeout
    } else {
        TikTokError::Network(Box::new(e.without_url()))
    }
}
