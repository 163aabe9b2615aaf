//! Whether an upload may be published: the account, the stored object,
//! and the creator's privacy options.

use super::{Step, failed};
use crate::{
    adapters::tiktok::posting::CreatorInfo,
    domain::{
        account::{Account, AccountStatus},
        secrets::SealedTokens,
        upload::{PrivacyLevel, Upload, UploadStatus, duration::DurationError, sniff},
    },
};

/// The sealed tokens of the account `upload` is for, if it may still
/// publish there: the uploader's own, active, with the mode's scope.
pub fn account_ready(account: Option<Account>, upload: &Upload) -> Result<SealedTokens, Step> {
    let account = match account {
        Some(a) if a.owner == upload.owner => a,
        _ => return Err(failed("the account is no longer connected to this user")),
    };
    let reconnect = || {
        failed(format!(
            "the account is {}; connect it again",
            account.status.as_str()
        ))
    };
    let Some(sealed) = account.sealed_tokens.clone() else {
        return Err(reconnect());
    };
    if account.status != AccountStatus::Active {
        return Err(reconnect());
    }
    if !account.scopes.contains(upload.mode.scope()) {
        return Err(failed(format!(
            "the account did not grant {}",
            upload.mode.scope()
        )));
    }
    Ok(sealed)
}

/// The stored object must be the declared size.
pub fn verify_size(upload: &Upload, size: u64) -> Result<(), Step> {
    if size != upload.size_bytes {
        return Err(failed(format!(
            "the stored file is {size} bytes, but {} were declared",
            upload.size_bytes
        )));
    }
    Ok(())
}

/// The object is not in the bucket. Before its PUT has landed (claimed
/// from `awaiting_upload`: an early or forged message) the upload goes on
/// waiting for it; once it had been stored, it is gone for good.
pub fn object_missing(from: UploadStatus) -> Step {
    if from == UploadStatus::AwaitingUpload {
        Step::NotStored
    } else {
        failed("the uploaded object is missing")
    }
}

/// The stored object must be a container of the declared type, by its
/// first bytes `head`.
pub fn verify_type(upload: &Upload, head: &[u8]) -> Result<(), Step> {
    if !upload.video_type.matches(head) {
        return Err(failed(format!(
            "the file is {}, not the declared {}",
            sniff(head).describe(),
            upload.video_type.content_type()
        )));
    }
    Ok(())
}

/// A video's duration, as read from its container, against the longest
/// TikTok takes: a video longer by a whole second or more fails with
/// `video_too_long` before TikTok hears of it. A read that failed is
/// handed back for the caller to judge.
pub fn duration_allows<E>(
    read: Result<f64, DurationError<E>>,
    max_seconds: u32,
) -> Result<Result<(), Step>, DurationError<E>> {
    let seconds = read?;
    if seconds.floor() > f64::from(max_seconds) {
        return Ok(Err(failed(format!(
            "video_too_long: the video lasts {seconds:.1} s; TikTok takes at most {max_seconds} s \
             from this creator"
        ))));
    }
    Ok(Ok(()))
}

/// A direct post's privacy level must be one the creator may use now.
pub fn creator_allows(info: &CreatorInfo, privacy: PrivacyLevel) -> Result<(), Step> {
    if info
        .privacy_level_options
        .iter()
        .any(|o| o == privacy.as_str())
    {
        return Ok(());
    }
    Err(failed(format!(
        "privacy_level_option_mismatch: this creator can post as {}, not {}",
        info.privacy_level_options.join(", "),
        privacy.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{account, upload};
    use super::*;
    use crate::domain::upload::PublishMode;

    #[test]
    fn only_the_uploaders_active_account_with_the_scope_and_tokens_publishes() {
        use AccountStatus::*;
        let all = "user.info.basic,video.upload,video.publish";
        let direct = upload(PublishMode::Direct, 5000);
        let inbox = upload(PublishMode::Inbox, 5000);
        let cases = [
            (
                None,
                &direct,
                Some("the account is no longer connected to this user"),
            ),
            (
                Some(account("bob", Active, all, true)),
                &direct,
                Some("the account is no longer connected to this user"),
            ),
            (
                Some(account("alice", Disconnected, all, false)),
                &direct,
                Some("the account is disconnected; connect it again"),
            ),
            (
                Some(account("alice", ReauthRequired, all, true)),
                &direct,
                Some("the account is reauth_required; connect it again"),
            ),
            (
                Some(account("alice", Active, all, false)),
                &direct,
                Some("the account is active; connect it again"),
            ),
            (
                Some(account("alice", Active, "video.upload", true)),
                &direct,
                Some("the account did not grant video.publish"),
            ),
            (
                Some(account("alice", Active, "video.publish", true)),
                &inbox,
                Some("the account did not grant video.upload"),
            ),
            (Some(account("alice", Active, all, true)), &direct, None),
            (
                Some(account("alice", Active, "video.upload", true)),
                &inbox,
                None,
            ),
        ];
        for (account, upload, refused) in cases {
            let got = match account_ready(account, upload) {
                Ok(_) => None,
                Err(Step::Failed(reason)) => Some(reason),
                Err(other) => panic!("{other:?}"),
            };
            assert_eq!(got.as_deref(), refused);
        }
    }

    #[test]
    fn the_stored_object_must_be_what_was_declared() {
        let declared = upload(PublishMode::Direct, 5000);
        let mp4 = [
            0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm',
        ];
        let mov = [
            0, 0, 0, 0x14, b'f', b't', b'y', b'p', b'q', b't', b' ', b' ',
        ];
        assert_eq!(verify_size(&declared, 5000), Ok(()));
        assert_eq!(
            verify_size(&declared, 4999),
            Err(Step::Failed(
                "the stored file is 4999 bytes, but 5000 were declared".into()
            ))
        );
        assert_eq!(verify_type(&declared, &mp4), Ok(()));
        assert_eq!(
            verify_type(&declared, &mov),
            Err(Step::Failed(
                "the file is QuickTime (MOV), not the declared video/mp4".into()
            ))
        );
        assert_eq!(
            verify_type(&declared, b"hello"),
            Err(Step::Failed(
                "the file is not a recognised video, not the declared video/mp4".into()
            ))
        );
    }

    #[test]
    fn the_privacy_level_must_be_one_the_creator_offers() {
        let info: CreatorInfo = serde_json::from_value(serde_json::json!({
            "privacy_level_options": ["FOLLOWER_OF_CREATOR", "SELF_ONLY"]
        }))
        .unwrap();
        assert_eq!(creator_allows(&info, PrivacyLevel::SelfOnly), Ok(()));
        assert_eq!(
            creator_allows(&info, PrivacyLevel::PublicToEveryone),
            Err(Step::Failed(
                "privacy_level_option_mismatch: this creator can post as FOLLOWER_OF_CREATOR, SELF_ONLY, not PUBLIC_TO_EVERYONE".into()
            ))
        );
    }
}
