//! What TikTok's answers mean to a publish: a failed call, the status of
//! an earlier publish, and a status check.

use super::{RETRY_LATER, Step, defer, failed};
use crate::{
    adapters::tiktok::posting::{PublishState, PublishStatus},
    domain::{tiktok::TikTokError, upload::UploadStatus},
};

/// A TikTok error while publishing: transient ones wait, others end it.
pub fn tiktok_failure(call: &str, e: &TikTokError) -> Step {
    if e.is_transient() {
        return defer(RETRY_LATER, format!("TikTok {call} failed: {}", e.code()));
    }
    let detail = match e {
        TikTokError::Api { message, .. } if !message.is_empty() => format!(": {message}"),
        _ => String::new(),
    };
    failed(format!("TikTok {call} refused: {}{detail}", e.code()))
}

/// What became of a publish an earlier attempt started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// It cannot complete on its own (TikTok has not all the bytes, or does
    /// not know it): start a new one.
    StartOver,
    /// It is TikTok's now, or settled: end the attempt here.
    Done(Step),
}

/// Reads TikTok's status of the earlier publish of a `size`-byte upload.
pub fn resume(status: Result<PublishStatus, TikTokError>, size: u64) -> Resume {
    match status {
        Ok(status) => match status.state {
            PublishState::ProcessingUpload if status.uploaded_bytes.unwrap_or(0) < size => {
                Resume::StartOver
            }
            PublishState::Failed => Resume::Done(failed(format!(
                "TikTok: {}",
                status.fail_reason.as_deref().unwrap_or("failed")
            ))),
            _ => Resume::Done(Step::Transferred),
        },
        Err(TikTokError::Api { code, .. }) if code == "invalid_publish_id" => Resume::StartOver,
        Err(e) => Resume::Done(tiktok_failure("status", &e)),
    }
}

/// What a status check learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCheck {
    /// TikTok's final word: settle the upload so.
    Settle(UploadStatus, Option<String>),
    /// Not final yet, or TikTok was unavailable: ask again later.
    Again,
    /// TikTok refused to say: leave it to the webhooks.
    GiveUp,
}

pub fn after_check(status: Result<PublishStatus, TikTokError>) -> AfterCheck {
    match status {
        Ok(status) => match status.state {
            PublishState::PublishComplete | PublishState::SendToUserInbox => {
                AfterCheck::Settle(UploadStatus::Published, None)
            }
            PublishState::Failed => AfterCheck::Settle(
                UploadStatus::Failed,
                Some(format!(
                    "TikTok: {}",
                    status.fail_reason.as_deref().unwrap_or("failed")
                )),
            ),
            _ => AfterCheck::Again,
        },
        Err(e) if e.is_transient() => AfterCheck::Again,
        Err(_) => AfterCheck::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{api, status};
    use super::*;

    #[test]
    fn tiktok_errors_wait_when_transient_and_fail_when_refused() {
        assert_eq!(
            tiktok_failure("init", &TikTokError::Timeout),
            defer(RETRY_LATER, "TikTok init failed: timeout")
        );
        assert_eq!(
            tiktok_failure("init", &api(429, "rate_limit_exceeded", "slow")),
            defer(RETRY_LATER, "TikTok init failed: rate_limit_exceeded")
        );
        assert_eq!(
            tiktok_failure("init", &api(403, "spam_risk_too_many_posts", "too many")),
            Step::Failed("TikTok init refused: spam_risk_too_many_posts: too many".into())
        );
        assert_eq!(
            tiktok_failure("creator_info", &api(401, "access_token_invalid", "")),
            Step::Failed("TikTok creator_info refused: access_token_invalid".into())
        );
    }

    #[test]
    fn an_earlier_publish_is_replaced_only_when_it_cannot_complete() {
        use PublishState::*;
        let size = 1000;
        let cases = [
            (
                Ok(status(ProcessingUpload, Some(999), None)),
                Resume::StartOver,
            ),
            (Ok(status(ProcessingUpload, None, None)), Resume::StartOver),
            (
                Ok(status(ProcessingUpload, Some(1000), None)),
                Resume::Done(Step::Transferred),
            ),
            (
                Ok(status(ProcessingDownload, None, None)),
                Resume::Done(Step::Transferred),
            ),
            (
                Ok(status(PublishComplete, None, None)),
                Resume::Done(Step::Transferred),
            ),
            (
                Ok(status(SendToUserInbox, None, None)),
                Resume::Done(Step::Transferred),
            ),
            (
                Ok(status(Other("NEW".into()), None, None)),
                Resume::Done(Step::Transferred),
            ),
            (
                Ok(status(Failed, None, Some("duration_check_failed"))),
                Resume::Done(Step::Failed("TikTok: duration_check_failed".into())),
            ),
            (
                Ok(status(Failed, None, None)),
                Resume::Done(Step::Failed("TikTok: failed".into())),
            ),
            (Err(api(400, "invalid_publish_id", "")), Resume::StartOver),
            (
                Err(TikTokError::Timeout),
                Resume::Done(defer(RETRY_LATER, "TikTok status failed: timeout")),
            ),
        ];
        for (answer, expected) in cases {
            assert_eq!(resume(answer, size), expected);
        }
    }

    #[test]
    fn a_status_check_settles_on_tiktoks_final_word_only() {
        use PublishState::*;
        let cases = [
            (
                Ok(status(PublishComplete, None, None)),
                AfterCheck::Settle(UploadStatus::Published, None),
            ),
            (
                Ok(status(SendToUserInbox, None, None)),
                AfterCheck::Settle(UploadStatus::Published, None),
            ),
            (
                Ok(status(Failed, None, Some("spam_risk"))),
                AfterCheck::Settle(UploadStatus::Failed, Some("TikTok: spam_risk".into())),
            ),
            (
                Ok(status(ProcessingDownload, None, None)),
                AfterCheck::Again,
            ),
            (
                Ok(status(ProcessingUpload, Some(10), None)),
                AfterCheck::Again,
            ),
            (Err(TikTokError::Timeout), AfterCheck::Again),
            (
                Err(api(401, "access_token_invalid", "")),
                AfterCheck::GiveUp,
            ),
        ];
        for (answer, expected) in cases {
            assert_eq!(after_check(answer), expected);
        }
    }
}
