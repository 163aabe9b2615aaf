//! The complete: the signed-in user presents the callback's ticket. Only
//! the user who started the connect may finish it; anyone else burns the
//! ticket. The code is exchanged, the profile fetched, the tokens sealed
//! and the account written; a failure that may pass next time (TikTok or a
//! dependency unavailable) leaves the ticket usable until it expires.

use std::time::Duration;

use super::{callback::OAuthCallback, errors::CompleteError, rules};
use crate::{
    adapters::store::connects::ConnectRecord,
    domain::{
        account::{Account, AccountView},
        ids::UserId,
        ports::{AccountStore, StoreError, TokenSealer},
        ratelimit::TIKTOK_USER_INFO,
        secrets::ConnectTicket,
    },
    support::errors::chain_line,
};

/// How long one complete holds its ticket: past the worst case of a code
/// exchange and a profile fetch at the longest TikTok timeout (60 s each),
/// sealing and writing. A complete that died lets go after it.
const CLAIM: Duration = Duration::from_secs(180);

/// How many times a connect re-reads and retries when another writer
/// changes the account between its read and its compare-and-swap.
const CONNECT_ATTEMPTS: usize = 3;

impl OAuthCallback {
    /// Finishes `user`'s connect: the account, connected.
    #[tracing::instrument(name = "oauth.complete", skip_all, fields(user = %user, account_id))]
    pub async fn complete(
        &self,
        user: &UserId,
        ticket: &ConnectTicket,
    ) -> Result<AccountView, CompleteError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(CLAIM).unwrap_or_default();
        let record = match self.store.claim_connect(ticket, user, now, until).await {
            Ok(record) => record,
            Err(StoreError::NotLeasable) => {
                self.burn_unless_theirs(ticket, user).await;
                return Err(CompleteError::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        let outcome = self.connect(&record, ticket).await;
        let settled = match &outcome {
            Err(e) if e.keeps_ticket() => self.store.release_connect(ticket).await,
            // Used, or refused for good.
            _ => self.store.delete_connect(ticket).await,
        };
        if let Err(e) = settled {
            tracing::warn!(error = %chain_line(&e), "could not settle the ticket; its claim lapses");
        }
        outcome.map(|account| account.view())
    }

    /// A ticket presented by someone other than its user, or expired, is
    /// deleted: the connect cannot be finished any more.
    async fn burn_unless_theirs(&self, ticket: &ConnectTicket, user: &UserId) {
        let now = self.clock.now();
        match self.store.get_connect(ticket).await {
            Ok(Some(record)) if &record.user != user || record.expires_at <= now => {
                if &record.user != user {
                    tracing::warn!("a ticket was presented by another user; burned");
                }
                if let Err(e) = self.store.delete_connect(ticket).await {
                    tracing::warn!(error = %chain_line(&e), "could not burn the ticket");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %chain_line(&e), "could not read the ticket"),
        }
    }

    /// Exchanges the code, fetches the profile, seals the tokens and writes
    /// the account. Nothing is written unless every step before the write
    /// succeeded, so a failure leaves no partial account.
    async fn connect(
        &self,
        record: &ConnectRecord,
        ticket: &ConnectTicket,
    ) -> Result<Account, CompleteError> {
        let code = self.sealer.open_code(ticket, &record.sealed_code).await?;
        let now = self.clock.now();
        let grant = self
            .tiktok
            .exchange_code(&code, &self.settings.redirect_uri, now)
            .await
            .map_err(CompleteError::TokenExchange)?;
        tracing::Span::current().record("account_id", tracing::field::display(&grant.open_id));

        // Tokens we do not keep are dropped, never revoked: revoking ends the
        // TikTok user's whole grant to our app, including a connection that
        // is already stored.
        // TikTok's per-token user-info limit, kept on our side. Like our
        // API, this fails closed: no count, no call.
        self.limiter
            .admit(&TIKTOK_USER_INFO, grant.open_id.as_ref())
            .await?;
        let info = self
            .tiktok
            .user_info(&grant.tokens.access)
            .await
            .map_err(CompleteError::ProfileFetch)?;
        if info.open_id != grant.open_id {
            return Err(CompleteError::IdentityMismatch);
        }

        let sealed = self.sealer.seal(&grant.open_id, &grant.tokens).await?;
        for _ in 0..CONNECT_ATTEMPTS {
            let existing = self.store.get_account(&grant.open_id).await?;
            let (account, expected_version) = rules::connected_account(
                existing.as_ref(),
                &record.user,
                &grant,
                &info,
                &sealed,
                now,
            )?;
            match self.store.put_account(&account, expected_version).await {
                Ok(()) => {
                    tracing::info!(reconnect = expected_version.is_some(), "account connected");
                    return Ok(account);
                }
                Err(StoreError::AlreadyExists | StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CompleteError::Contended)
    }
}
