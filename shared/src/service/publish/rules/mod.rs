//! The publisher's decisions, as pure functions over what each step
//! returned: whether an upload may be published and its object is what was
//! declared (`checks`), what TikTok's answers mean (`tiktok`), where a
//! transfer goes after each chunk (`chunks`), and how an attempt is settled
//! (processing, failed, or deferred with which delay; here). The I/O
//! around them only carries them out.

mod checks;
mod chunks;
#[cfg(test)]
mod fixtures;
mod tiktok;

pub use checks::{
    account_ready, creator_allows, duration_allows, object_missing, verify_size, verify_type,
};
pub use chunks::{AfterChunk, after_chunk};
pub use tiktok::{AfterCheck, AfterStatus, after_check, after_status, tiktok_failure};

use std::time::Duration;

use super::Handled;
use crate::domain::upload::UploadStatus;

/// A transient failure's retry delay: a minute, TikTok's rate window.
pub const RETRY_LATER: Duration = Duration::from_secs(60);
/// Inits (each a fresh upload_url) one attempt may make after TikTok
/// reported a publish that never got every byte.
pub const MAX_INITS: u32 = 3;
/// How many times one attempt may ask where a stopped-short transfer stands.
pub const MAX_TURNS: u32 = 8;

/// Where one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every byte is at TikTok.
    Transferred,
    /// It can never publish: fail the upload with this reason.
    Failed(String),
    /// Not now: try again after `delay`.
    Defer { delay: Duration, reason: String },
    /// The object is not stored yet: wait for its PUT's notification.
    NotStored,
    /// A quota is used up (ours or TikTok's): wait `delay` without
    /// counting an attempt.
    Wait { delay: Duration, reason: String },
}

pub fn wait(delay: Duration, reason: impl Into<String>) -> Step {
    Step::Wait {
        delay,
        reason: reason.into(),
    }
}

pub fn defer(delay: Duration, reason: impl Into<String>) -> Step {
    Step::Defer {
        delay,
        reason: reason.into(),
    }
}

pub(super) fn failed(reason: impl Into<String>) -> Step {
    Step::Failed(reason.into())
}

/// How an attempt leaves the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// `processing`, and a status check scheduled in case no webhook comes.
    Processing,
    /// `awaiting_upload` again, and nothing scheduled: the object's PUT
    /// will notify the queue.
    AwaitUpload,
    /// `failed`, with this reason.
    Fail(String),
    /// Back in `status` (`uploaded` when TikTok has nothing of it yet,
    /// `publishing` when a publish_id is stored), and a follow-up for
    /// attempt `next_attempt` after `delay`.
    Defer {
        status: UploadStatus,
        delay: Duration,
        reason: String,
        next_attempt: u32,
    },
    /// Back in `status` (as for `Defer`), not to be claimed for `delay`,
    /// and woken then; the attempt is not counted.
    Wait {
        status: UploadStatus,
        delay: Duration,
        reason: String,
    },
}

/// Where an upload waits between attempts: `publishing` once a publish_id
/// is stored (the next attempt resumes it); before that, `waiting` for a
/// post's target and `uploaded` for an upload of its own.
pub fn waiting_status(publish_id_stored: bool, target: bool) -> UploadStatus {
    match (publish_id_stored, target) {
        (true, _) => UploadStatus::Publishing,
        (false, true) => UploadStatus::Waiting,
        (false, false) => UploadStatus::Uploaded,
    }
}

/// Settles attempt number `attempt` (from 0), which ended in `step`, of at
/// most `max_attempts`; `publish_id_stored`: whether the upload now has a
/// publish_id; `target`: whether it is a post's target. A deferral waits at
/// most `max_defer`.
pub fn settle(
    step: Step,
    attempt: u32,
    max_attempts: u32,
    publish_id_stored: bool,
    target: bool,
    max_defer: Duration,
) -> Settle {
    let status = waiting_status(publish_id_stored, target);
    match step {
        Step::Transferred => Settle::Processing,
        Step::NotStored => Settle::AwaitUpload,
        Step::Failed(reason) => Settle::Fail(reason),
        Step::Wait { delay, reason } => Settle::Wait {
            status,
            delay,
            reason,
        },
        Step::Defer { reason, .. } if attempt + 1 >= max_attempts => {
            Settle::Fail(format!("gave up after {} attempts: {reason}", attempt + 1))
        }
        // Nothing reached TikTok without a stored publish_id, so the next
        // attempt either starts over or resumes that publish.
        Step::Defer { delay, reason } => Settle::Defer {
            status,
            delay: delay.min(max_defer),
            reason,
            next_attempt: attempt + 1,
        },
    }
}

/// The metric a handled message counts toward, if any.
pub fn metric(handled: &Handled) -> Option<&'static str> {
    match handled {
        Handled::Transferred => Some("PublishTransferred"),
        Handled::Failed(_) => Some("PublishFailed"),
        Handled::Deferred(_) => Some("PublishDeferred"),
        Handled::Duplicate => Some("PublishDuplicate"),
        Handled::Checked(UploadStatus::Published) => Some("UploadsPublished"),
        Handled::Checked(UploadStatus::Failed) => Some("UploadsFailed"),
        Handled::Started(_) => Some("PostsStarted"),
        Handled::MediaStored(UploadStatus::Failed) => Some("MediaFailed"),
        Handled::Checked(_)
        | Handled::Ignored
        | Handled::NotYetStored
        | Handled::MediaStored(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const MAX_DEFER: Duration = Duration::from_secs(900);

    #[test]
    fn an_attempt_settles_processing_failed_or_deferred() {
        assert_eq!(
            settle(Step::Transferred, 0, 24, true, false, MAX_DEFER),
            Settle::Processing
        );
        assert_eq!(
            settle(Step::Failed("no".into()), 0, 24, true, false, MAX_DEFER),
            Settle::Fail("no".into())
        );
        // (attempt, publish_id stored, delay) -> status, delay, next attempt
        let cases = [
            (0, false, MINUTE, UploadStatus::Uploaded, MINUTE, 1),
            (5, true, MINUTE, UploadStatus::Publishing, MINUTE, 6),
            (
                22,
                false,
                MINUTE * 30,
                UploadStatus::Uploaded,
                MAX_DEFER,
                23,
            ),
        ];
        for (attempt, stored, delay, status, waits, next) in cases {
            assert_eq!(
                settle(defer(delay, "busy"), attempt, 24, stored, false, MAX_DEFER),
                Settle::Defer {
                    status,
                    delay: waits,
                    reason: "busy".into(),
                    next_attempt: next
                }
            );
        }
        // A quota wait is not an attempt, and is not capped at SQS's delay.
        assert_eq!(
            settle(wait(MINUTE * 300, "quota"), 23, 24, false, false, MAX_DEFER),
            Settle::Wait {
                status: UploadStatus::Uploaded,
                delay: MINUTE * 300,
                reason: "quota".into()
            }
        );
        // A post's target waits as `waiting` until TikTok has its publish.
        assert_eq!(waiting_status(false, true), UploadStatus::Waiting);
        assert_eq!(waiting_status(true, true), UploadStatus::Publishing);
        // The last attempt gives up, saying why.
        assert_eq!(
            settle(defer(MINUTE, "busy"), 23, 24, true, false, MAX_DEFER),
            Settle::Fail("gave up after 24 attempts: busy".into())
        );
    }

    #[test]
    fn every_settled_message_counts_toward_one_metric() {
        let cases = [
            (Handled::Transferred, Some("PublishTransferred")),
            (Handled::Failed("x".into()), Some("PublishFailed")),
            (Handled::Deferred("x".into()), Some("PublishDeferred")),
            (Handled::Duplicate, Some("PublishDuplicate")),
            (
                Handled::Checked(UploadStatus::Published),
                Some("UploadsPublished"),
            ),
            (
                Handled::Checked(UploadStatus::Failed),
                Some("UploadsFailed"),
            ),
            (Handled::Checked(UploadStatus::Processing), None),
            (Handled::Ignored, None),
        ];
        for (handled, expected) in cases {
            assert_eq!(metric(&handled), expected, "{handled:?}");
        }
    }
}
