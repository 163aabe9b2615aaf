//! What TikTok's answers mean to a publish: a failed call, the status of a
//! publish whose transfer stopped short, and a status check.

use std::time::Duration;

use super::{RETRY_LATER, Step, defer, failed, wait};
use crate::{
    adapters::tiktok::posting::{PublishState, PublishStatus},
    domain::{
        tiktok::TikTokError,
        upload::{ChunkPlan, UploadStatus},
    },
};

/// How long a creator's daily cap at TikTok is waited out before asking
/// again: TikTok counts a rolling 24 hours and does not say when a slot
/// frees, so a few tries a day, not a loop.
pub const TIKTOK_CAP_WAIT: Duration = Duration::from_secs(3 * 3600);

/// TikTok's daily caps (tiktok-api.md §3.9): a wait, never a failure.
const TIKTOK_CAPS: [&str; 3] = [
    "spam_risk_too_many_posts",
    "spam_risk_too_many_pending_share",
    "reached_active_user_cap",
];

/// TikTok refusing a post that is not private because the app is not
/// audited: the post fails with what to do, never a retry.
pub const UNAUDITED_REFUSAL: &str = "unaudited_app_private_only: TikTok accepts only private \
     posts (SELF_ONLY) from this app until it passes TikTok's audit; post privately, or set \
     TIKTOK_APP_AUDITED once the app is audited";

/// A TikTok error while publishing: transient ones wait, daily caps wait
/// longer, others end it.
pub fn tiktok_failure(call: &str, e: &TikTokError) -> Step {
    if let TikTokError::Api { code, .. } = e
        && TIKTOK_CAPS.contains(&code.as_str())
    {
        return wait(TIKTOK_CAP_WAIT, format!("TikTok's daily cap: {code}"));
    }
    if let TikTokError::Api { code, .. } = e
        && code == "unaudited_client_can_only_post_to_private_accounts"
    {
        return failed(UNAUDITED_REFUSAL);
    }
    if let TikTokError::UploadHostNotAllowed { .. } = e {
        return failed("TikTok's upload_url is not at an allowed upload host; nothing was sent");
    }
    if e.is_transient() {
        return defer(RETRY_LATER, format!("TikTok {call} failed: {}", e.code()));
    }
    let detail = match e {
        TikTokError::Api { message, .. } if !message.is_empty() => format!(": {message}"),
        _ => String::new(),
    };
    failed(format!("TikTok {call} refused: {}{detail}", e.code()))
}

/// What TikTok's status says of a publish we hold whose transfer stopped
/// short: in an earlier attempt, or just now with an answer that does not
/// say (a lost answer, a refused resend, progress unknown). A publish is
/// replaced only when TikTok reports it never got every byte (or does not
/// know it); when it cannot say, we wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStatus {
    /// TikTok has every byte, or settled the publish: end the attempt so.
    Done(Step),
    /// TikTok never got every byte and the upload_url cannot take them:
    /// a new init replaces the publish.
    Replace,
    /// TikTok has the bytes up to chunk `index`'s start, and the
    /// upload_url takes the rest: go on from there, resending nothing.
    Continue(usize),
}

/// Reads TikTok's status of a publish of `plan`'s video, whose upload_url
/// can (`url_usable`) or cannot take more bytes.
pub fn after_status(
    status: Result<PublishStatus, TikTokError>,
    plan: &ChunkPlan,
    url_usable: bool,
) -> AfterStatus {
    match status {
        Ok(status) => match (status.state, status.uploaded_bytes) {
            (PublishState::ProcessingUpload, None) => AfterStatus::Done(defer(
                RETRY_LATER,
                "TikTok has not said how much of the video it has",
            )),
            (PublishState::ProcessingUpload, Some(uploaded)) if uploaded < plan.video_size => {
                match plan.chunks().position(|c| c.first == uploaded) {
                    Some(at) if url_usable => AfterStatus::Continue(at),
                    _ => AfterStatus::Replace,
                }
            }
            (PublishState::Failed, _) => AfterStatus::Done(failed(format!(
                "TikTok: {}",
                status.fail_reason.as_deref().unwrap_or("failed")
            ))),
            _ => AfterStatus::Done(Step::Transferred),
        },
        Err(TikTokError::Api { code, .. }) if code == "invalid_publish_id" => AfterStatus::Replace,
        Err(e) => AfterStatus::Done(tiktok_failure("status", &e)),
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
    fn an_unaudited_apps_refusal_fails_with_what_to_do() {
        let refused = api(
            403,
            "unaudited_client_can_only_post_to_private_accounts",
            "",
        );
        assert_eq!(tiktok_failure("init", &refused), failed(UNAUDITED_REFUSAL));
        assert!(UNAUDITED_REFUSAL.starts_with("unaudited_app_private_only"));
    }

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
            wait(
                TIKTOK_CAP_WAIT,
                "TikTok's daily cap: spam_risk_too_many_posts"
            )
        );
        assert_eq!(
            tiktok_failure(
                "init",
                &api(403, "spam_risk_too_many_pending_share", "5 pending")
            ),
            wait(
                TIKTOK_CAP_WAIT,
                "TikTok's daily cap: spam_risk_too_many_pending_share"
            )
        );
        assert_eq!(
            tiktok_failure("creator_info", &api(401, "access_token_invalid", "")),
            Step::Failed("TikTok creator_info refused: access_token_invalid".into())
        );
    }

    #[test]
    fn a_publish_is_replaced_only_when_tiktok_reports_it_never_completed() {
        use PublishState::*;
        let plan = ChunkPlan::for_size(200_000_000).unwrap();
        let unknown = defer(
            RETRY_LATER,
            "TikTok has not said how much of the video it has",
        );
        // (status, the upload_url still takes bytes, expected)
        let cases = [
            (
                Ok(status(ProcessingUpload, Some(64_000_000), None)),
                true,
                AfterStatus::Continue(1),
            ),
            (
                Ok(status(ProcessingUpload, Some(0), None)),
                true,
                AfterStatus::Continue(0),
            ),
            (
                Ok(status(ProcessingUpload, Some(64_000_000), None)),
                false,
                AfterStatus::Replace,
            ),
            (
                Ok(status(ProcessingUpload, Some(1234), None)),
                true,
                AfterStatus::Replace,
            ),
            (
                Ok(status(ProcessingUpload, None, None)),
                true,
                AfterStatus::Done(unknown.clone()),
            ),
            (
                Ok(status(ProcessingUpload, None, None)),
                false,
                AfterStatus::Done(unknown),
            ),
            (
                Ok(status(ProcessingUpload, Some(200_000_000), None)),
                false,
                AfterStatus::Done(Step::Transferred),
            ),
            (
                Ok(status(ProcessingDownload, None, None)),
                false,
                AfterStatus::Done(Step::Transferred),
            ),
            (
                Ok(status(PublishComplete, None, None)),
                false,
                AfterStatus::Done(Step::Transferred),
            ),
            (
                Ok(status(SendToUserInbox, None, None)),
                true,
                AfterStatus::Done(Step::Transferred),
            ),
            (
                Ok(status(Other("NEW".into()), None, None)),
                true,
                AfterStatus::Done(Step::Transferred),
            ),
            (
                Ok(status(Failed, None, Some("duration_check_failed"))),
                true,
                AfterStatus::Done(Step::Failed("TikTok: duration_check_failed".into())),
            ),
            (
                Err(api(400, "invalid_publish_id", "")),
                true,
                AfterStatus::Replace,
            ),
            (
                Err(TikTokError::Timeout),
                true,
                AfterStatus::Done(defer(RETRY_LATER, "TikTok status failed: timeout")),
            ),
        ];
        for (i, (answer, url_usable, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                after_status(answer, &plan, url_usable),
                expected,
                "case {i}"
            );
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
