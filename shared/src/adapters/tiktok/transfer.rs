//! The media transfer to TikTok's upload host: one chunk PUT at a time, and
//! how the host answered it.

use super::client::{from_reqwest, read_body};
use crate::domain::{
    secrets::UploadUrl,
    tiktok::TikTokError,
    upload::{Chunk, VideoType},
};

/// How the upload host answered one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkAnswer {
    /// 206: stored; more chunks expected.
    Partial,
    /// 201: every byte is there; TikTok starts posting.
    Complete,
    /// 403: the upload_url has expired.
    Expired,
    /// 404: no upload task for this upload_url.
    NoTask,
    /// 416: the range does not follow what TikTok has; `uploaded` is what it
    /// says it has, when it says.
    OutOfOrder { uploaded: Option<u64> },
    /// Another 4xx: our request is wrong; retrying will not help.
    Refused { status: u16 },
}

/// The media transfer to TikTok's upload host, on the same HTTP client as
/// the API (see [`super::client::http_client`]): a chunk of up to 128 MB has no
/// overall timeout, only the client's connect and read timeouts.
#[derive(Clone)]
pub struct MediaTransfer {
    http: reqwest::Client,
}

impl MediaTransfer {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// PUTs one chunk: `Content-Type`, `Content-Length` and `Content-Range`
    /// as the media transfer guide documents, the body streamed.
    #[tracing::instrument(name = "tiktok.put_chunk", skip_all, fields(chunk = chunk.index))]
    pub async fn put_chunk(
        &self,
        upload_url: &UploadUrl,
        video_type: VideoType,
        chunk: &Chunk,
        body: reqwest::Body,
    ) -> Result<ChunkAnswer, TikTokError> {
        let response = self
            .http
            .put(upload_url.expose())
            .header("Content-Type", video_type.content_type())
            .header("Content-Length", chunk.len)
            .header("Content-Range", chunk.content_range())
            .body(body)
            .send()
            .await
            .map_err(from_reqwest)?;
        let status = response.status().as_u16();
        let uploaded = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(uploaded_from_range);
        // Drain the (undocumented, small) body so the connection is reused.
        let _ = read_body(response).await;
        Ok(match status {
            201 => ChunkAnswer::Complete,
            200 | 206 => ChunkAnswer::Partial,
            403 => ChunkAnswer::Expired,
            404 => ChunkAnswer::NoTask,
            416 => ChunkAnswer::OutOfOrder { uploaded },
            s if s >= 500 || s == 429 => {
                return Err(TikTokError::Api {
                    status: s,
                    code: "upload_host_error".into(),
                    message: "the upload host asks to retry the chunk".into(),
                    log_id: None,
                });
            }
            s => ChunkAnswer::Refused { status: s },
        })
    }
}

/// Bytes the upload host has, from its `Content-Range: bytes 0-{last}/{total}`
/// (`bytes */{total}`: none).
pub fn uploaded_from_range(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    let (span, _total) = range.split_once('/')?;
    if span == "*" {
        return Some(0);
    }
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    if first != 0 {
        return None;
    }
    last.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_from_content_range() {
        assert_eq!(
            uploaded_from_range("bytes 0-5242879/20000000"),
            Some(5_242_880)
        );
        assert_eq!(uploaded_from_range("bytes */20000000"), Some(0));
        assert_eq!(uploaded_from_range("bytes 10-20/30"), None);
        assert_eq!(uploaded_from_range("nonsense"), None);
    }
}
