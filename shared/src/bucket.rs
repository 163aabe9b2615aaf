//! The S3 adapter for the upload bucket: presigned PUTs that bind the
//! content type and length, the stored object's size, its first bytes, and
//! ranged reads streamed to the end. No `SdkError` leaves this module.

use std::{fmt, time::Duration};

use aws_sdk_s3::{
    error::ProvideErrorMetadata, presigning::PresigningConfig, primitives::ByteStream,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::{tokens::PresignedUrl, upload::VideoType};

#[derive(thiserror::Error)]
pub enum BucketError {
    #[error("no such object")]
    NotFound,
    #[error("S3 is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

fn unavailable<E>(operation: &'static str) -> impl FnOnce(E) -> BucketError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| BucketError::Unavailable(anyhow::Error::new(e).context(operation))
}

/// A presigned PUT: the client must send exactly these headers.
#[derive(Debug)]
pub struct PresignedPut {
    pub url: PresignedUrl,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct UploadBucket {
    client: aws_sdk_s3::Client,
    name: String,
}

fn not_found(code: Option<&str>) -> bool {
    matches!(code, Some("NoSuchKey" | "NotFound" | "404"))
}

impl UploadBucket {
    pub fn new(client: aws_sdk_s3::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// A PUT URL for `key` whose signature covers `Content-Type` and
    /// `Content-Length`: S3 refuses the upload if either differs.
    #[tracing::instrument(name = "bucket.presign_put", skip_all)]
    pub async fn presign_put(
        &self,
        key: &str,
        video_type: VideoType,
        size: u64,
        expires_in: Duration,
        now: DateTime<Utc>,
    ) -> Result<PresignedPut, BucketError> {
        let config = PresigningConfig::builder()
            .start_time(now.into())
            .expires_in(expires_in)
            .build()
            .map_err(unavailable("S3 presigning config"))?;
        let length = i64::try_from(size).map_err(unavailable("S3 object size"))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(video_type.content_type())
            .content_length(length)
            .presigned(config)
            .await
            .map_err(unavailable("S3 presign PutObject"))?;
        let url = PresignedUrl::parse(request.uri())
            .map_err(|e| BucketError::Unavailable(anyhow::Error::new(e)))?;
        let mut headers: Vec<(String, String)> = request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        for (name, value) in [
            ("content-type", video_type.content_type().to_owned()),
            ("content-length", size.to_string()),
        ] {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                headers.push((name.to_owned(), value));
            }
        }
        headers.sort();
        let expires_at = now
            + chrono::Duration::from_std(expires_in).map_err(unavailable("S3 presign expiry"))?;
        Ok(PresignedPut {
            url,
            headers,
            expires_at,
        })
    }

    /// The stored object's size.
    #[tracing::instrument(name = "bucket.size", skip_all)]
    pub async fn size(&self, key: &str) -> Result<u64, BucketError> {
        let output = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if not_found(e.code())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                {
                    BucketError::NotFound
                } else {
                    unavailable("S3 HeadObject")(e)
                }
            })?;
        output
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| BucketError::Unavailable(anyhow::anyhow!("HeadObject gave no length")))
    }

    /// Up to `n` leading bytes of the object.
    #[tracing::instrument(name = "bucket.head_bytes", skip_all)]
    pub async fn head_bytes(&self, key: &str, n: usize) -> Result<Bytes, BucketError> {
        let body = self.get(key, &format!("bytes=0-{}", n.max(1) - 1)).await?;
        let bytes = body
            .collect()
            .await
            .map_err(unavailable("S3 GetObject body"))?
            .into_bytes();
        Ok(bytes.slice(..bytes.len().min(n)))
    }

    /// The object from byte `offset` to its end, as a stream: memory stays
    /// flat whatever the object's size.
    #[tracing::instrument(name = "bucket.stream_from", skip_all, fields(offset))]
    pub async fn stream_from(&self, key: &str, offset: u64) -> Result<ByteStream, BucketError> {
        self.get(key, &format!("bytes={offset}-")).await
    }

    async fn get(&self, key: &str, range: &str) -> Result<ByteStream, BucketError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .range(range)
            .send()
            .await
            .map_err(|e| {
                if not_found(e.code()) {
                    BucketError::NotFound
                } else {
                    unavailable("S3 GetObject")(e)
                }
            })?;
        Ok(output.body)
    }
}
