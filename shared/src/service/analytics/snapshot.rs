//! One account's snapshot of a day: its counts (`/v2/user/info/`) and its
//! newest videos' counts (`/v2/video/list/`, page by page), written so
//! that the day is done once. Every Display API call is admitted first by
//! TikTok's 600 per minute per token and by our app-wide cap; a refusal, or
//! TikTok's own 429, leaves the account for later, never failed.

use std::{fmt, time::Duration};

use chrono::NaiveDate;

use super::AnalyticsSettings;
use crate::{
    adapters::{kms::KmsSealer, store::Store, tiktok::client::TikTokClient},
    domain::{
        analytics::{Video, snapshot_skip},
        ids::AccountId,
        ports::{AccountStore, SealError, StoreError, TokenSealer},
        ratelimit::{RateLimit, TIKTOK_USER_INFO},
        secrets::AccessToken,
        tiktok::TikTokError,
    },
    service::limits::{LimitError, Limiter},
    support::clock::Clock,
};

/// TikTok's `/v2/video/list/` limit, per token (tiktok-api.md §5).
pub const TIKTOK_VIDEO_LIST: RateLimit = RateLimit::per_minute("tiktok-video-list", 600);

/// What one account's snapshot came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// Written: the day's counts and this many videos.
    Taken { videos: usize },
    /// The day was done already (a retried run).
    AlreadyDone,
    /// Not snapshotted, and why (no failure: a reconnect fixes it).
    Skipped(String),
    /// Try again after this long: a rate limit, ours or TikTok's, or TikTok
    /// unavailable.
    Later { after: Duration, reason: String },
    /// TikTok refused it for good today (say, the token was revoked).
    Failed(String),
}

#[derive(thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl fmt::Debug for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// How long to wait after TikTok is unavailable or limited us.
const TIKTOK_RETRY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Snapshots {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    limiter: Limiter,
    settings: AnalyticsSettings,
    clock: Clock,
}

impl Snapshots {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        settings: AnalyticsSettings,
        clock: Clock,
    ) -> Self {
        Self {
            limiter: Limiter::new(store.clone(), clock.clone()),
            store,
            sealer,
            tiktok,
            settings,
            clock,
        }
    }

    /// Today's snapshot of `id`, unless it is done or the account cannot
    /// have one.
    #[tracing::instrument(name = "analytics.snapshot", skip_all, fields(account_id = %id))]
    pub async fn snapshot(&self, id: &AccountId) -> Result<SnapshotOutcome, SnapshotError> {
        let Some(account) = self.store.get_account(id).await? else {
            return Ok(SnapshotOutcome::Skipped("the account is gone".into()));
        };
        if let Some(skip) = snapshot_skip(&account) {
            return Ok(SnapshotOutcome::Skipped(skip.reason()));
        }
        let now = self.clock.now();
        let today = now.date_naive();
        if self.store.snapshot_done(id, today).await? {
            return Ok(SnapshotOutcome::AlreadyDone);
        }
        let Some(sealed) = account.sealed_tokens.as_ref() else {
            return Ok(SnapshotOutcome::Skipped("the account has no tokens".into()));
        };
        // The user info call and the first video page are both admitted
        // before either is made, so a used-up limit never leaves an account
        // half asked (and asked again later); and before the tokens are
        // opened, so a refusal costs no KMS call.
        if let Some(later) = self.admit(&TIKTOK_USER_INFO, id).await? {
            return Ok(later);
        }
        if self.settings.videos_per_account > 0
            && let Some(later) = self.admit(&TIKTOK_VIDEO_LIST, id).await?
        {
            return Ok(later);
        }
        let access = match self.sealer.open(id, sealed).await {
            Ok(tokens) => tokens.access,
            Err(SealError::Rejected) => {
                return Ok(SnapshotOutcome::Failed(
                    "the account's tokens do not open".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let counts = match self.tiktok.user_stats(&access).await {
            Ok(counts) => counts,
            Err(e) => return Ok(tiktok_outcome("user info", &e)),
        };
        let videos = match self.videos(id, &access).await? {
            Ok(videos) => videos,
            Err(outcome) => return Ok(outcome),
        };
        let expires = now + chrono::Duration::days(i64::from(self.settings.retention_days));
        self.store
            .put_video_snapshots(id, today, &videos, expires)
            .await?;
        let written = self
            .store
            .put_profile_snapshot(id, today, &counts, &videos, expires)
            .await?;
        Ok(if written {
            SnapshotOutcome::Taken {
                videos: videos.len(),
            }
        } else {
            SnapshotOutcome::AlreadyDone
        })
    }

    /// The account's newest videos, up to the setting, page by page.
    async fn videos(
        &self,
        id: &AccountId,
        access: &AccessToken,
    ) -> Result<Result<Vec<Video>, SnapshotOutcome>, SnapshotError> {
        let wanted = self.settings.videos_per_account as usize;
        let mut videos: Vec<Video> = Vec::with_capacity(wanted);
        let mut cursor = None;
        while videos.len() < wanted {
            // The first page was admitted with the user info call.
            if cursor.is_some()
                && let Some(later) = self.admit(&TIKTOK_VIDEO_LIST, id).await?
            {
                return Ok(Err(later));
            }
            let page_size = (wanted - videos.len()).min(20) as u32;
            let page = match self.tiktok.video_list(access, cursor, page_size).await {
                Ok(page) => page,
                Err(e) => return Ok(Err(tiktok_outcome("video list", &e))),
            };
            let got = page.videos.len();
            videos.extend(page.videos);
            if !page.has_more || got == 0 || page.cursor.is_none() {
                break;
            }
            cursor = page.cursor;
        }
        videos.truncate(wanted);
        Ok(Ok(videos))
    }

    /// One call against TikTok's per-token `limit` and our app-wide cap:
    /// `Some` outcome to come back later when either is used up.
    async fn admit(
        &self,
        limit: &RateLimit,
        id: &AccountId,
    ) -> Result<Option<SnapshotOutcome>, SnapshotError> {
        let app = RateLimit::per_minute("analytics-app", self.settings.app_requests_per_minute);
        // The app-wide cap first: it is the one used up in a large run, and
        // a refusal there spends no token's count.
        for (limit, key) in [(&app, "app"), (limit, id.as_ref())] {
            match self.limiter.admit(limit, key).await {
                Ok(()) => {}
                Err(LimitError::Limited {
                    scope,
                    retry_after_seconds,
                }) => {
                    return Ok(Some(SnapshotOutcome::Later {
                        after: Duration::from_secs(retry_after_seconds),
                        reason: format!("waiting for the {scope} limit"),
                    }));
                }
                Err(LimitError::Unavailable(e)) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The day snapshots are taken for now (UTC).
    pub fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }
}

/// A TikTok error during a snapshot: transient ones (429 included) come
/// back later, others fail the account's day.
fn tiktok_outcome(call: &str, e: &TikTokError) -> SnapshotOutcome {
    if e.is_transient() {
        SnapshotOutcome::Later {
            after: TIKTOK_RETRY,
            reason: format!("TikTok {call} failed: {}", e.code()),
        }
    } else {
        SnapshotOutcome::Failed(format!("TikTok {call} refused: {}", e.code()))
    }
}
