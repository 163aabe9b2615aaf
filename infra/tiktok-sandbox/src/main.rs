//! Runs the TikTok sandbox on its own.
//!
//! Environment: `SANDBOX_ADDR` (default `127.0.0.1:9100`),
//! `SANDBOX_CLIENT_KEY`, `SANDBOX_CLIENT_SECRET`, `SANDBOX_REDIRECT_URIS`
//! (comma-separated), `SANDBOX_ACCESS_TTL`, `SANDBOX_REFRESH_TTL` (seconds).

use std::net::SocketAddr;

use tiktok_sandbox::SandboxConfig;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn seconds(name: &str, default: u64) -> anyhow::Result<u64> {
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number of seconds"))
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
    };
    let addr: SocketAddr = var("SANDBOX_ADDR")
        .unwrap_or_else(|| "127.0.0.1:9100".into())
        .parse()?;
    let sandbox = tiktok_sandbox::spawn(config, addr).await?;
    tracing::info!(base_url = %sandbox.base_url(), "TikTok sandbox listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
