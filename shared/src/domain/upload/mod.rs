//! The upload domain: what a user may ask to upload, the video types TikTok
//! accepts (and how to recognise them by their first bytes), the upload's
//! states, and the chunk plan TikTok's media transfer requires.

mod chunks;
pub mod duration;
mod media;
mod request;
mod status;
mod video;

pub use chunks::{
    Chunk, ChunkPlan, MAX_CHUNK, MAX_CHUNKS, MAX_FINAL_CHUNK, MAX_SINGLE_CHUNK, MIN_CHUNK, NoPlan,
};
pub use media::Media;
pub use request::{
    DEFAULT_MAX_UPLOAD_BYTES, InvalidUpload, MAX_TITLE_UTF16, MIN_UPLOAD_BYTES, MediaRequest,
    NewMedia, NewUpload, PostSettings, PrivacyLevel, PublishMode, UploadKind, UploadRequest,
    check_post,
};
pub use status::{NewPublish, StoredUploadUrl, TargetOf, Upload, UploadStatus, UploadView};
pub use video::{SNIFF_BYTES, Sniffed, VideoType, sniff};
