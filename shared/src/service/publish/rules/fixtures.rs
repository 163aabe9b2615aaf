//! What the rules' tests are about: an upload, an account, TikTok's answers.

use chrono::Utc;

use crate::{
    adapters::tiktok::posting::{PublishState, PublishStatus},
    domain::{
        account::{Account, AccountStatus, sample},
        ids::{AccountId, UploadId, UserId},
        secrets::SealedTokens,
        tiktok::TikTokError,
        upload::{NewUpload, PostSettings, PublishMode, Upload, VideoType},
    },
};

pub fn upload(mode: PublishMode, size: u64) -> Upload {
    Upload::new(
        UploadId::generate(),
        UserId::parse("alice").unwrap(),
        NewUpload {
            account_id: AccountId::parse("open-1").unwrap(),
            video_type: VideoType::Mp4,
            size_bytes: size,
            mode,
            post: PostSettings::default(),
        },
        Utc::now(),
    )
}

pub fn account(owner: &str, status: AccountStatus, scopes: &str, sealed: bool) -> Account {
    Account {
        sealed_tokens: sealed.then(|| SealedTokens::from_bytes(vec![1])),
        ..sample::account(owner, status, scopes)
    }
}

pub fn api(status: u16, code: &str, message: &str) -> TikTokError {
    TikTokError::Api {
        status,
        code: code.into(),
        message: message.into(),
        log_id: None,
    }
}

pub fn status(state: PublishState, uploaded: Option<u64>, reason: Option<&str>) -> PublishStatus {
    PublishStatus {
        state,
        fail_reason: reason.map(str::to_owned),
        uploaded_bytes: uploaded,
        public_post_id: None,
    }
}
