use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    analytics::AnalyticsState, posting::PostingState, ratelimit::RateLimits, webhooks::WebhookState,
};

/// How the sandbox app is registered, and how long its tokens live.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The app's `client_key`.
    pub client_key: String,
    /// The app's `client_secret`; also the webhook signing key.
    pub client_secret: String,
    /// Redirect URIs registered for the app; the authorize and token calls
    /// must use one of them exactly.
    pub redirect_uris: Vec<String>,
    /// Access-token lifetime, seconds (newest documented: 7200).
    pub access_ttl: u64,
    /// Refresh-token lifetime, seconds (newest documented: 15552000).
    pub refresh_ttl: u64,
    /// Authorization-code lifetime, seconds.
    pub code_ttl: u64,
    /// Where signed webhooks go; `None` sends none.
    pub webhook_url: Option<Url>,
    /// How long an `upload_url` stays usable, seconds (documented: one hour).
    pub upload_url_ttl: u64,
    /// Direct-post inits allowed per open_id in any 24 hours, after which
    /// `spam_risk_too_many_posts` (documented: "typically around 15").
    pub daily_post_cap: u32,
    /// Inbox inits allowed per open_id in any 24 hours, after which
    /// `spam_risk_too_many_pending_share` (documented: 5 pending shares).
    pub pending_inbox_cap: u32,
    /// Users an unaudited app may direct-post for in any 24 hours, after
    /// which `reached_active_user_cap` (documented: "up to 5 users").
    pub unaudited_user_cap: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            client_key: "sandbox_client_key".into(),
            client_secret: "sandbox_client_secret".into(),
            redirect_uris: Vec::new(),
            access_ttl: 7200,
            refresh_ttl: 15_552_000,
            code_ttl: 600,
            webhook_url: None,
            upload_url_ttl: 3600,
            daily_post_cap: 15,
            pending_inbox_cap: 5,
            unaudited_user_cap: 5,
        }
    }
}

/// What an injected fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "status")]
pub enum FaultKind {
    /// Answer with this HTTP status and a TikTok-shaped error body.
    Status(u16),
    /// 429 with `rate_limit_exceeded`.
    RateLimited,
    /// Hang far longer than any client timeout.
    Timeout,
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 with a body that never ends (streamed, no `Content-Length`):
    /// only a client that caps what it reads gets an answer.
    Endless,
    /// The request is handled (a chunk is stored), then answered with this
    /// status and an error body instead of the real answer: an answer lost
    /// after TikTok acted on the request.
    StoredThen(u16),
}

/// A fault for requests whose path starts with `path_prefix`: the first
/// `after` such requests pass untouched, the next `count` fail, then each
/// one fails with probability `rate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    /// Requests whose path starts with this are affected.
    pub path_prefix: String,
    /// What happens to an affected request.
    pub kind: FaultKind,
    /// How many affected requests fail (after the first `after`).
    #[serde(default)]
    pub count: u32,
    /// Probability that each later affected request fails.
    #[serde(default)]
    pub rate: f64,
    /// How many matching requests pass untouched before `count` applies
    /// (e.g. `after: 1, count: 1` fails only the second one).
    #[serde(default)]
    pub after: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub open_id: String,
    pub union_id: String,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub open_id: String,
    pub scopes: String,
    pub redirect_uri: String,
    pub expires_at: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessGrant {
    pub open_id: String,
    pub scopes: String,
    pub expires_at: u64,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    pub open_id: String,
    pub scopes: String,
    pub expires_at: u64,
    /// False once rotated or revoked: TikTok's "the previous refresh token
    /// stops working once a new one is issued".
    pub current: bool,
}

#[derive(Default)]
pub(crate) struct State {
    pub users: HashMap<String, User>,
    pub codes: HashMap<String, CodeGrant>,
    pub access: HashMap<String, AccessGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub faults: Vec<Fault>,
    pub latency: Duration,
    /// Calls per path.
    pub calls: HashMap<String, u64>,
    /// Presentations of each token (refresh or bearer), faulted ones excluded.
    pub token_calls: HashMap<String, u64>,
    /// Successful refreshes (rotations) per open_id.
    pub rotations: HashMap<String, u64>,
    /// `invalid_grant` answers per open_id (unknown tokens under "").
    pub invalid_grants: HashMap<String, u64>,
    /// Every secret the sandbox has issued or accepted, for leak checks.
    pub issued_secrets: Vec<String>,
    pub next_id: u64,
    /// Content Posting: publishes, uploads, per-user settings and caps.
    pub posting: PostingState,
    /// Per-token sliding-minute rate limits.
    pub rate: RateLimits,
    /// Webhook target, switches and the delivery log.
    pub webhooks: WebhookState,
    /// Display API: per-user stats and videos, and the sandbox day.
    pub analytics: AnalyticsState,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes[..]);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub(crate) fn log_id() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    format!(
        "SANDBOX{}",
        bytes.iter().map(|b| format!("{b:02X}")).collect::<String>()
    )
}

impl State {
    pub fn user(&mut self, open_id: Option<&str>) -> User {
        let open_id = match open_id {
            Some(id) => id.to_owned(),
            None => {
                self.next_id += 1;
                let mut bytes = [0u8; 8];
                rand::fill(&mut bytes[..]);
                format!(
                    "sbx-{}-{}",
                    self.next_id,
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            }
        };
        self.users
            .entry(open_id.clone())
            .or_insert_with(|| User {
                union_id: format!("union-{open_id}"),
                display_name: format!("Sandbox {open_id}"),
                open_id,
            })
            .clone()
    }

    /// Issues a fresh access/refresh pair for `open_id`.
    pub fn issue(
        &mut self,
        config: &SandboxConfig,
        open_id: &str,
        scopes: &str,
    ) -> (String, String) {
        let access = random_token("act.");
        let refresh = random_token("rft.");
        let t = now();
        self.access.insert(
            access.clone(),
            AccessGrant {
                open_id: open_id.to_owned(),
                scopes: scopes.to_owned(),
                expires_at: t + config.access_ttl,
                revoked: false,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                open_id: open_id.to_owned(),
                scopes: scopes.to_owned(),
                expires_at: t + config.refresh_ttl,
                current: true,
            },
        );
        self.issued_secrets.push(access.clone());
        self.issued_secrets.push(refresh.clone());
        (access, refresh)
    }

    /// Ends `open_id`'s whole authorization: every access token is revoked
    /// and no refresh token works any more. Returns whether the user had any
    /// grant.
    pub fn revoke_user(&mut self, open_id: &str) -> bool {
        let mut found = false;
        for g in self.access.values_mut().filter(|g| g.open_id == open_id) {
            g.revoked = true;
            found = true;
        }
        for g in self.refresh.values_mut().filter(|g| g.open_id == open_id) {
            g.current = false;
            found = true;
        }
        found
    }

    /// The fault to apply to a request on `path`, if any.
    pub fn take_fault(&mut self, path: &str) -> Option<FaultKind> {
        for fault in self.faults.iter_mut() {
            if !path.starts_with(&fault.path_prefix) {
                continue;
            }
            if fault.after > 0 {
                fault.after -= 1;
                continue;
            }
            if fault.count > 0 {
                fault.count -= 1;
                return Some(fault.kind);
            }
            if fault.rate > 0.0 && rand::random::<f64>() < fault.rate {
                return Some(fault.kind);
            }
        }
        None
    }
}
