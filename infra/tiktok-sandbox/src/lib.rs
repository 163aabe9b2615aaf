//! A TikTok sandbox: an HTTP server that behaves as TikTok's documents say
//! (see `shared/tiktok-api.md` in the docs), for local runs and tests.
//!
//! - `GET /v2/auth/authorize/`: validates the request and redirects back
//!   with `code`, `scopes` and `state`; `sandbox_decision=deny` on the URL
//!   makes it deny (`error=access_denied`), `sandbox_user=<open_id>` picks the
//!   TikTok user who "logs in" (a new user otherwise).
//! - `POST /v2/oauth/token/`: form-encoded, `client_key`; single-use codes
//!   with an exact `redirect_uri` match; strict refresh-token rotation (an
//!   old refresh token gets `invalid_grant`); flat OAuth errors.
//! - `GET /v2/user/info/`, `POST /v2/oauth/revoke/`.
//! - Switches for latency and faults (5xx, 429, timeouts, malformed bodies),
//!   through [`RunningSandbox`] in tests or `POST /sandbox/faults`.

mod server;
mod state;

pub use server::{RunningSandbox, spawn};
pub use state::{Fault, FaultKind, SandboxConfig};
