//! Rate limits applied to our callers, counted atomically in the store (one
//! conditional write per decision). A store that cannot count fails closed:
//! the call is refused as unavailable, never let through uncounted.

use std::fmt;

use crate::{
    adapters::store::Store,
    domain::{
        ids::UserId,
        ports::StoreError,
        ratelimit::{Decision, RateLimit},
    },
    support::clock::Clock,
};

/// Every authenticated call to our HTTP API, per user.
pub const API_CALLS_PER_USER: RateLimit = RateLimit::per_minute("api", 120);

#[derive(thiserror::Error)]
pub enum LimitError {
    #[error("rate limit {scope} reached")]
    Limited {
        scope: &'static str,
        retry_after_seconds: u64,
    },
    #[error("the rate limiter is unavailable")]
    Unavailable(#[source] StoreError),
}

impl fmt::Debug for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// Counts decisions against limits.
#[derive(Clone)]
pub struct Limiter {
    store: Store,
    clock: Clock,
}

impl Limiter {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// One decision on `limit` for `key`.
    pub async fn admit(&self, limit: &RateLimit, key: &str) -> Result<(), LimitError> {
        match self
            .store
            .rate_hit(limit, key, self.clock.now())
            .await
            .map_err(LimitError::Unavailable)?
        {
            Decision::Allowed { .. } => Ok(()),
            Decision::Denied {
                retry_after_seconds,
            } => Err(LimitError::Limited {
                scope: limit.scope,
                retry_after_seconds,
            }),
        }
    }

    /// One call of `user`'s to our HTTP API.
    pub async fn admit_api_call(&self, user: &UserId) -> Result<(), LimitError> {
        self.admit(&API_CALLS_PER_USER, user.as_ref()).await
    }
}
