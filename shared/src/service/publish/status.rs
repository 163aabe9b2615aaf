//! The status check: when no webhook came, ask TikTok how a processing
//! upload is doing, settle it on TikTok's final word, or ask again later.

use std::time::Duration;

use super::{
    Handled, PublishError, Publisher,
    message::FollowUp,
    preflight::Access,
    rules::{self, AfterCheck},
};
use crate::{
    domain::{
        ids::{PublishId, UploadId},
        ports::StoreError,
        ratelimit,
        upload::{Upload, UploadStatus},
    },
    service::limits::LimitError,
    support::errors::chain_line,
};

impl Publisher {
    /// Asks TikTok how a processing upload is doing (no webhook came).
    #[tracing::instrument(name = "publish.check_status", skip_all, fields(upload_id = %id, attempt))]
    pub async fn check_status(&self, id: &UploadId, attempt: u32) -> Result<Handled, PublishError> {
        let Some(upload) = self.store.get_upload(id).await? else {
            return Ok(Handled::Ignored);
        };
        let Some(publish_id) = upload.publish_id.clone() else {
            return Ok(Handled::Ignored);
        };
        if upload.status != UploadStatus::Processing {
            if upload.status.is_final() {
                // A webhook settled it first.
                self.target_settled(&upload).await;
            }
            return Ok(Handled::Checked(upload.status));
        }
        let Access::Ready(access) = self.access_token(&upload).await? else {
            tracing::info!("the account can no longer ask TikTok; leaving the upload to webhooks");
            return Ok(Handled::Checked(upload.status));
        };
        let again = match self
            .limiter
            .admit(&ratelimit::TIKTOK_STATUS_FETCH, upload.account_id.as_ref())
            .await
        {
            Err(LimitError::Unavailable(e)) => return Err(e.into()),
            Err(LimitError::Limited {
                retry_after_seconds,
                ..
            }) => Some((attempt, Duration::from_secs(retry_after_seconds))),
            Ok(()) => {
                let status = self.tiktok.publish_status(&access, &publish_id).await;
                if let Err(e) = &status
                    && !e.is_transient()
                {
                    tracing::warn!(error = %chain_line(e), "TikTok refused the status query");
                }
                let public_post = status.as_ref().ok().and_then(|s| s.public_post_id.clone());
                match rules::after_check(status) {
                    AfterCheck::Settle(status, error) => {
                        let settled = self
                            .settle(&upload, &publish_id, status, error.as_deref())
                            .await?;
                        if let Some(public_post) = public_post {
                            self.store
                                .public_post(
                                    &upload,
                                    publish_id.as_ref(),
                                    &public_post,
                                    self.clock.now(),
                                )
                                .await?;
                        }
                        return Ok(settled);
                    }
                    AfterCheck::Again => Some((attempt + 1, self.settings.status_check_delay)),
                    AfterCheck::GiveUp => None,
                }
            }
        };
        match again {
            Some((next, delay)) if attempt < self.settings.max_status_checks => {
                self.queue
                    .send(&FollowUp::check_status(id, next), delay)
                    .await?;
            }
            _ => tracing::warn!("no final status from TikTok; leaving the upload to webhooks"),
        }
        Ok(Handled::Checked(UploadStatus::Processing))
    }

    async fn settle(
        &self,
        upload: &Upload,
        publish_id: &PublishId,
        status: UploadStatus,
        error: Option<&str>,
    ) -> Result<Handled, PublishError> {
        match self
            .store
            .settle_upload(&upload.id, publish_id, status, error, self.clock.now())
            .await
        {
            Ok(()) => {
                self.target_settled(upload).await;
                Ok(Handled::Checked(status))
            }
            // A webhook settled it first.
            Err(StoreError::NotLeasable) => Ok(Handled::Ignored),
            Err(e) => Err(e.into()),
        }
    }
}
