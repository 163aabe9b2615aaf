//! Runs the TikTok sandbox on its own.
//!
//! Environment: `SANDBOX_ADDR` (default `127.0.0.1:9100`),
//! `SANDBOX_CLIENT_KEY`, `SANDBOX_CLIENT_SECRET`, `SANDBOX_REDIRECT_URIS`
//! (comma-separated), `SANDBOX_ACCESS_TTL`, `SANDBOX_REFRESH_TTL` (seconds),
//! `SANDBOX_WEBHOOK_URL` (where signed webhooks go; none by default),
//! `SANDBOX_UPLOAD_URL_TTL` (seconds, default 3600),
//! `SANDBOX_DAILY_POST_CAP` (default 15), `SANDBOX_PENDING_INBOX_CAP`
//! (default 5), `SANDBOX_APP_AUDITED` (`true` by default; `false`: direct
//! posts must be `SELF_ONLY`, as TikTok holds an unaudited app),
//! `SANDBOX_UNAUDITED_USER_CAP` (users an unaudited app may post for in
//! 24 hours; default 5).

use std::net::SocketAddr;

use tiktok_sandbox::SandboxConfig;
use url::Url;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn seconds(name: &str, default: u64) -> anyhow::Result<u64> {
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number of seconds"))
    })
}

fn count(name: &str, default: u32) -> anyhow::Result<u32> {
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a whole number"))
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        client_key: var("SANDBOX_CLIENT_KEY").unwrap_or(defaults.client_key),
        client_secret: var("SANDBOX_CLIENT_SECRET").unwrap_or(defaults.client_secret),
        redirect_uris: var("SANDBOX_REDIRECT_URIS")
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        access_ttl: seconds("SANDBOX_ACCESS_TTL", defaults.access_ttl)?,
        refresh_ttl: seconds("SANDBOX_REFRESH_TTL", defaults.refresh_ttl)?,
        code_ttl: defaults.code_ttl,
        webhook_url: var("SANDBOX_WEBHOOK_URL")
            .map(|v| {
                Url::parse(&v).map_err(|e| anyhow::anyhow!("SANDBOX_WEBHOOK_URL is not a URL: {e}"))
            })
            .transpose()?,
        upload_url_ttl: seconds("SANDBOX_UPLOAD_URL_TTL", defaults.upload_url_ttl)?,
        daily_post_cap: count("SANDBOX_DAILY_POST_CAP", defaults.daily_post_cap)?,
        pending_inbox_cap: count("SANDBOX_PENDING_INBOX_CAP", defaults.pending_inbox_cap)?,
        unaudited_user_cap: count("SANDBOX_UNAUDITED_USER_CAP", defaults.unaudited_user_cap)?,
    };
    let addr: SocketAddr = var("SANDBOX_ADDR")
        .unwrap_or_else(|| "127.0.0.1:9100".into())
        .parse()?;
    let audited = match var("SANDBOX_APP_AUDITED").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => anyhow::bail!("SANDBOX_APP_AUDITED must be true or false"),
    };
    let sandbox = tiktok_sandbox::spawn(config, addr).await?;
    sandbox.set_audited(audited);
    tracing::info!(base_url = %sandbox.base_url(), "TikTok sandbox listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
