//! The S3 adapter for the upload bucket: presigned PUTs that bind the
//! content type and length, and ranged reads streamed to the end with the
//! object's size. No `SdkError` leaves this module.

use std::{fmt, time::Duration};

use aws_sdk_s3::{
    error::ProvideErrorMetadata, presigning::PresigningConfig, primitives::ByteStream,
};
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        secrets::PresignedUrl,
        upload::{VideoType, duration::RangeRead},
    },
    env::{ConfigError, Env},
};

/// The S3 bucket uploads go to (`UPLOAD_BUCKET`).
#[derive(Clone, Debug)]
pub struct BucketName(String);

impl BucketName {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = env.required("UPLOAD_BUCKET")?.trim();
        let valid = (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
        if !valid {
            return Err(ConfigError::malformed(
                "UPLOAD_BUCKET",
                "expected an S3 bucket name (3-63 of a-z, 0-9, '-', '.')",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for BucketName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[derive(thiserror::Error)]
pub enum BucketError {
    #[error("no such object")]
    NotFound,
    #[error("the object is empty")]
    Empty,
    /// `If-Match` failed: the object is no longer the version verified.
    #[error("the object changed since it was verified")]
    Changed,
    #[error("S3 is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

fn unavailable<E>(operation: &'static str) -> impl FnOnce(E) -> BucketError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| BucketError::Unavailable(anyhow::Error::new(e).context(operation))
}

/// An object opened for reading: its bytes from the requested offset, its
/// whole size, and the version (ETag) they belong to.
pub struct StoredObject {
    pub body: ByteStream,
    pub size: u64,
    pub etag: String,
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
    client: crate::adapters::aws::LazyClient<aws_sdk_s3::Client>,
    name: BucketName,
}

/// The tag the media lifecycle rule reads: `release` lets it expire.
pub const RETENTION_TAG: &str = "retention";
/// What a media object is stored with: nothing holds it yet.
pub const MEDIA_TAGGING: &str = "retention=release";

fn not_found(code: Option<&str>) -> bool {
    matches!(code, Some("NoSuchKey" | "NotFound" | "404"))
}

impl UploadBucket {
    pub fn new(
        client: impl Into<crate::adapters::aws::LazyClient<aws_sdk_s3::Client>>,
        name: BucketName,
    ) -> Self {
        Self {
            client: client.into(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        self.name.as_ref()
    }

    /// A PUT URL for `key` whose signature covers `Content-Type` and
    /// `Content-Length` (and, with `tagging`, `x-amz-tagging`): S3 refuses
    /// the upload if any differs.
    #[tracing::instrument(name = "bucket.presign_put", skip_all)]
    pub async fn presign_put(
        &self,
        key: &str,
        video_type: VideoType,
        size: u64,
        tagging: Option<&str>,
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
            .bucket(self.name.as_ref())
            .key(key)
            .content_type(video_type.content_type())
            .content_length(length)
            .set_tagging(tagging.map(str::to_owned))
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
        let tagging = tagging.map(|t| ("x-amz-tagging", t.to_owned()));
        for (name, value) in [
            ("content-type", video_type.content_type().to_owned()),
            ("content-length", size.to_string()),
        ]
        .into_iter()
        .chain(tagging)
        {
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

    /// Tags a media object `retention=hold` (kept while a post that uses
    /// it has not settled) or `retention=release` (the lifecycle rule may
    /// expire it). An object not stored yet is fine: it arrives with
    /// `release` and its arrival decides.
    #[tracing::instrument(name = "bucket.set_retention", skip_all, fields(hold))]
    pub async fn set_retention(&self, key: &str, hold: bool) -> Result<(), BucketError> {
        use aws_sdk_s3::types::{Tag, Tagging};
        let tag = Tag::builder()
            .key(RETENTION_TAG)
            .value(if hold { "hold" } else { "release" })
            .build()
            .map_err(unavailable("S3 Tag builder"))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(unavailable("S3 Tagging builder"))?;
        match self
            .client
            .put_object_tagging()
            .bucket(self.name.as_ref())
            .key(key)
            .tagging(tagging)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(e.code()) => Ok(()),
            Err(e) => Err(unavailable("S3 PutObjectTagging")(e)),
        }
    }

    /// The object's `retention` tag, if it has one.
    pub async fn retention(&self, key: &str) -> Result<Option<String>, BucketError> {
        let output = self
            .client
            .get_object_tagging()
            .bucket(self.name.as_ref())
            .key(key)
            .send()
            .await
            .map_err(|e| match e.code() {
                code if not_found(code) => BucketError::NotFound,
                _ => unavailable("S3 GetObjectTagging")(e),
            })?;
        Ok(output
            .tag_set
            .into_iter()
            .find(|t| t.key == RETENTION_TAG)
            .map(|t| t.value))
    }

    /// The object from byte `offset` to its end, as a stream, with the
    /// object's whole size and ETag: memory stays flat whatever the size,
    /// and one GET serves both the checks and the transfer. With `version`
    /// (an ETag) the read is of that version only (`If-Match`), or
    /// [`BucketError::Changed`].
    #[tracing::instrument(name = "bucket.open", skip_all, fields(offset))]
    pub async fn open(
        &self,
        key: &str,
        offset: u64,
        version: Option<&str>,
    ) -> Result<StoredObject, BucketError> {
        let output = self
            .client
            .get_object()
            .bucket(self.name.as_ref())
            .key(key)
            .range(format!("bytes={offset}-"))
            .set_if_match(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| match e.code() {
                code if not_found(code) => BucketError::NotFound,
                // A range from 0 of an empty object.
                Some("InvalidRange") => BucketError::Empty,
                Some("PreconditionFailed") => BucketError::Changed,
                _ => unavailable("S3 GetObject")(e),
            })?;
        let etag = output
            .e_tag
            .clone()
            .ok_or_else(|| BucketError::Unavailable(anyhow::anyhow!("GetObject gave no ETag")))?;
        let total = output
            .content_range
            .as_deref()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok())
            .or_else(|| {
                output
                    .content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .and_then(|n| n.checked_add(offset))
            })
            .ok_or_else(|| BucketError::Unavailable(anyhow::anyhow!("GetObject gave no length")))?;
        Ok(StoredObject {
            body: output.body,
            size: total,
            etag,
        })
    }

    /// The stored object, one version of it, read by byte ranges (the
    /// container's headers, to read the video's duration).
    pub fn ranges<'a>(&'a self, key: &'a str, version: &'a str) -> ObjectRanges<'a> {
        ObjectRanges {
            bucket: self,
            key,
            version,
        }
    }
}

/// One version of a stored object, read by byte ranges.
pub struct ObjectRanges<'a> {
    bucket: &'a UploadBucket,
    key: &'a str,
    version: &'a str,
}

impl RangeRead for ObjectRanges<'_> {
    type Error = BucketError;

    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, BucketError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let output = self
            .bucket
            .client
            .get_object()
            .bucket(self.bucket.name.as_ref())
            .key(self.key)
            .range(format!("bytes={offset}-{}", offset + len - 1))
            .if_match(self.version)
            .send()
            .await
            .map_err(|e| match e.code() {
                code if not_found(code) => BucketError::NotFound,
                Some("PreconditionFailed") => BucketError::Changed,
                _ => unavailable("S3 GetObject (range)")(e),
            })?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| BucketError::Unavailable(anyhow::Error::new(e)))?
            .into_bytes();
        Ok(bytes.iter().take(len as usize).copied().collect())
    }
}
