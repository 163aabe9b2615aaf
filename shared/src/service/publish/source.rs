//! The stored object as one stream: the checks peek at its first bytes,
//! then each chunk takes the next bytes in order, so the happy path reads
//! the object once and memory does not grow with the file.

use std::io;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use futures::Stream;
use tokio::sync::oneshot;

/// The stored object once verified: the version (ETag) every later read
/// must be of, and the read the checks left open, if it is still unused.
pub(super) struct Verified {
    pub(super) etag: String,
    pub(super) source: Option<Source>,
}

/// The S3 object read from `offset` on; chunks take their bytes from it in
/// order, so the happy path reads the object once.
pub(super) struct Source {
    body: ByteStream,
    pending: Bytes,
    pub(super) offset: u64,
}

pub(super) type ChunkBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

impl Source {
    pub(super) fn new(body: ByteStream, offset: u64) -> Self {
        Self {
            body,
            pending: Bytes::new(),
            offset,
        }
    }

    /// The next `n` bytes (fewer if the object is shorter), kept for the
    /// transfer.
    pub(super) async fn peek(&mut self, n: usize) -> Result<Bytes, io::Error> {
        while self.pending.len() < n {
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    let mut joined = bytes::BytesMut::from(&self.pending[..]);
                    joined.extend_from_slice(&bytes);
                    self.pending = joined.freeze();
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => break,
            }
        }
        Ok(self.pending.slice(..self.pending.len().min(n)))
    }

    /// A stream of exactly `len` bytes from here. Once they are out, the
    /// source comes back through the receiver for the next chunk; if the
    /// PUT fails midway it is dropped, and the retry reads from S3 again.
    pub(super) fn take(self, len: u64) -> (ChunkBody, oneshot::Receiver<Source>) {
        let (tx, rx) = oneshot::channel();
        let stream = futures::stream::unfold(
            (Some(self), len, Some(tx)),
            |(source, remaining, tx)| async move {
                let mut source = source?;
                if remaining == 0 {
                    return None;
                }
                let mut bytes = if source.pending.is_empty() {
                    match source.body.next().await {
                        Some(Ok(bytes)) => bytes,
                        Some(Err(e)) => return Some((Err(io::Error::other(e)), (None, 0, None))),
                        None => {
                            let e =
                                io::Error::new(io::ErrorKind::UnexpectedEof, "object ended early");
                            return Some((Err(e), (None, 0, None)));
                        }
                    }
                } else {
                    std::mem::take(&mut source.pending)
                };
                if bytes.len() as u64 > remaining {
                    source.pending = bytes.split_off(remaining as usize);
                }
                let n = bytes.len() as u64;
                source.offset += n;
                let remaining = remaining - n;
                if remaining == 0 {
                    // Hand the source back now: the HTTP client may never
                    // poll past the last byte of a sized body.
                    if let Some(tx) = tx {
                        let _ = tx.send(source);
                    }
                    return Some((Ok(bytes), (None, 0, None)));
                }
                Some((Ok(bytes), (Some(source), remaining, tx)))
            },
        );
        (Box::pin(stream), rx)
    }
}
