//! The upload host: `PUT /upload/?upload_id=..&upload_token=..` takes the
//! chunks of a FILE_UPLOAD (`shared/tiktok-api.md` §3.5), and
//! `PUT /sandbox/sink` swallows a body for benchmarks.
//!
//! Bodies are never buffered: each chunk streams through a byte counter, a
//! clone of the publish's running SHA-256 and of its kept ends (the first
//! and last few MB, for the duration check), which replace the stored ones
//! only when the chunk is accepted.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json,
    body::Body,
    extract::{RawQuery, State as AxumState},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    posting::PublishOutcome,
    server::Shared,
    video::{Kept, duration_check},
    webhooks,
};

/// Content types the upload host takes.
const VIDEO_TYPES: [&str; 3] = ["video/mp4", "video/quicktime", "video/webm"];
/// How much of a rejected request's body is read and discarded so the
/// client sees the answer rather than a reset connection.
const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;

/// Reads `body` to the end, counting bytes and feeding each piece to
/// `take`. Fails on a read error, or once more than `limit` bytes arrive.
async fn stream_into(
    body: Body,
    limit: Option<u64>,
    mut take: impl FnMut(&[u8]),
) -> Result<u64, String> {
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(frame) = stream.next().await {
        let bytes = frame.map_err(|e| format!("body read failed: {e}"))?;
        n += bytes.len() as u64;
        if let Some(limit) = limit
            && n > limit
        {
            return Err("body longer than Content-Length".into());
        }
        take(&bytes);
    }
    Ok(n)
}

/// Reads and discards up to [`DRAIN_LIMIT`] bytes of `body`.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(Ok(bytes)) = stream.next().await {
        n += bytes.len() as u64;
        if n > DRAIN_LIMIT {
            break;
        }
    }
}

/// `Content-Range` describing what has been uploaded so far.
fn progress(uploaded: u64, total: u64) -> String {
    if uploaded == 0 {
        format!("bytes */{total}")
    } else {
        format!("bytes 0-{}/{total}", uploaded - 1)
    }
}

/// An upload-host answer: plain-text message, progress header if known.
fn reply(status: StatusCode, range: Option<&str>, message: &str) -> Response {
    let mut response = (status, message.to_owned()).into_response();
    if let Some(value) = range.and_then(|r| HeaderValue::from_str(r).ok()) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// `bytes {first}-{last}/{total}` with `first <= last < total`.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last, total) = (
        first.parse::<u64>().ok()?,
        last.parse::<u64>().ok()?,
        total.parse::<u64>().ok()?,
    );
    (first <= last && last < total).then_some((first, last, total))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// An upload-host refusal waiting to be sent.
struct Refusal {
    status: StatusCode,
    range: Option<String>,
    message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        reply(self.status, self.range.as_deref(), self.message)
    }
}

/// What a checked chunk PUT is about to write.
struct Accepted {
    publish_id: String,
    first: u64,
    len: u64,
    content_type: String,
    hasher: Sha256,
    kept: Kept,
}

/// Checks everything that can be checked before reading the body.
fn check(
    shared: &Shared,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Accepted, Refusal> {
    let not_found = || Refusal {
        status: StatusCode::NOT_FOUND,
        range: None,
        message: "cannot find a valid upload task given the upload_url",
    };
    let (Some(upload_id), Some(token)) = (params.get("upload_id"), params.get("upload_token"))
    else {
        return Err(not_found());
    };
    let state = shared.state();
    let Some((publish_id, p)) = state
        .posting
        .uploads
        .get(upload_id)
        .and_then(|id| state.posting.publishes.get_key_value(id))
    else {
        return Err(not_found());
    };
    if p.upload_token != *token {
        return Err(not_found());
    }
    let range = progress(p.uploaded_bytes, p.video_size);
    let fail = |status, message| {
        Err(Refusal {
            status,
            range: Some(range.clone()),
            message,
        })
    };
    if p.is_expired(shared.config.upload_url_ttl) {
        return fail(StatusCode::FORBIDDEN, "The upload_url has expired.");
    }
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
    if !VIDEO_TYPES.contains(&content_type) {
        return fail(
            StatusCode::BAD_REQUEST,
            "Content-Type must be video/mp4, video/quicktime or video/webm",
        );
    }
    let Some((first, last, total)) =
        header_str(headers, header::CONTENT_RANGE).and_then(parse_content_range)
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Content-Range must be bytes {first}-{last}/{total}",
        );
    };
    if total != p.video_size {
        return fail(
            StatusCode::BAD_REQUEST,
            "Content-Range total is not the video_size given at init",
        );
    }
    let len = last - first + 1;
    let content_length =
        header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if content_length != Some(len) {
        return fail(
            StatusCode::BAD_REQUEST,
            "Content-Length is missing or does not match Content-Range",
        );
    }
    if first != p.uploaded_bytes {
        return fail(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "Content-Range does not reflect the actual upload progress.",
        );
    }
    if len != p.planned_len(first / p.chunk_size) {
        return fail(
            StatusCode::BAD_REQUEST,
            "chunk length does not match the chunk_size given at init",
        );
    }
    Ok(Accepted {
        publish_id: publish_id.clone(),
        first,
        len,
        content_type: content_type.to_owned(),
        hasher: p.hasher.clone(),
        kept: p.kept.clone(),
    })
}

/// `PUT /upload/?upload_id=..&upload_token=..`: one chunk of a FILE_UPLOAD.
pub(crate) async fn upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params: HashMap<String, String> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let Accepted {
        publish_id,
        first,
        len,
        content_type,
        mut hasher,
        mut kept,
    } = match check(&shared, &params, &headers) {
        Ok(a) => a,
        Err(refusal) => {
            drain(body).await;
            return refusal.into_response();
        }
    };
    let streamed = stream_into(body, Some(len), |bytes| {
        hasher.update(bytes);
        kept.feed(bytes);
    })
    .await;

    let mut state = shared.state();
    let (delay, outcome) = (
        state.posting.processing_delay,
        state.posting.outcome.clone(),
    );
    let Some(p) = state.posting.publishes.get_mut(&publish_id) else {
        return reply(StatusCode::NOT_FOUND, None, "upload task vanished");
    };
    let range = progress(p.uploaded_bytes, p.video_size);
    match streamed {
        Err(message) => return reply(StatusCode::BAD_REQUEST, Some(&range), &message),
        Ok(n) if n != len => {
            return reply(
                StatusCode::BAD_REQUEST,
                Some(&range),
                "body shorter than Content-Length",
            );
        }
        Ok(_) => {}
    }
    if p.uploaded_bytes != first {
        // Another PUT of the same chunk finished first.
        return reply(
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some(&range),
            "Content-Range does not reflect the actual upload progress.",
        );
    }
    p.uploaded_bytes += len;
    p.chunk_puts += 1;
    p.hasher = hasher;
    p.content_type.get_or_insert(content_type);
    let range = progress(p.uploaded_bytes, p.video_size);
    if p.uploaded_bytes < p.video_size {
        p.kept = kept;
        return reply(StatusCode::PARTIAL_CONTENT, Some(&range), "");
    }
    p.sha256 = Some(hex::encode(p.hasher.clone().finalize()));
    p.kept = Kept::default();
    let content_type = p.content_type.clone().unwrap_or_default();
    let (open_id, direct) = (p.open_id.clone(), p.direct);
    let max_seconds = state.posting.max_seconds(&open_id, direct);
    drop(state);
    let task = shared.clone();
    shared.runtime.spawn(async move {
        // TikTok checks the video while processing it.
        let outcome = match duration_check(kept, &content_type, max_seconds).await {
            Some(reason) => PublishOutcome::Fail(reason.to_owned()),
            None => outcome,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let events = {
            let mut state = task.state();
            let state = &mut *state;
            state
                .posting
                .settle(&publish_id, &outcome, &mut state.analytics)
        };
        webhooks::send(&task, events);
    });
    reply(StatusCode::CREATED, Some(&range), "")
}

/// `PUT /sandbox/sink`: streams the body like a chunk PUT, without limits,
/// and answers `{"bytes": n, "sha256": "<hex>"}`.
pub(crate) async fn sink(body: Body) -> Response {
    let mut hasher = Sha256::new();
    match stream_into(body, None, |bytes| hasher.update(bytes)).await {
        Ok(bytes) => {
            Json(json!({"bytes": bytes, "sha256": hex::encode(hasher.finalize())})).into_response()
        }
        Err(message) => reply(StatusCode::BAD_REQUEST, None, &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(
            parse_content_range("bytes 40000000-50000122/50000123"),
            Some((40_000_000, 50_000_122, 50_000_123))
        );
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("0-9/10"), None);
        assert_eq!(parse_content_range("bytes 0-9/x"), None);
    }

    #[test]
    fn progress_header() {
        assert_eq!(progress(0, 10), "bytes */10");
        assert_eq!(progress(4, 10), "bytes 0-3/10");
    }
}
