//! Rate-limiter benchmark against the local emulator: decisions per second
//! with 1 and with 32 concurrent callers, and DynamoDB calls per decision
//! (counted at a proxy in front of the emulator).
//!
//!     infra/bench/ratelimit.sh [--decisions 2000]

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use futures::{StreamExt, stream};
use shared::{
    adapters::{
        aws,
        store::{Store, TableName},
    },
    domain::ratelimit::{Decision, RateLimit},
};
use tools::{Clients, aws_endpoint, aws_proxy::AwsProxy, provision};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let decisions: usize = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [flag, n] if flag == "--decisions" => n.parse().context("--decisions takes a number")?,
        [] => 2000,
        _ => anyhow::bail!("usage: bench-ratelimit [--decisions N]"),
    };
    let mut env = tools::emulator_env(&aws_endpoint());
    let clients = Clients::new(&aws::load(&env).await);
    let prefix = format!("rl{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let p = provision::provision(&clients, &prefix).await?;
    let proxy = AwsProxy::spawn(aws_endpoint()).await?;
    env.set("AWS_ENDPOINT_URL", proxy.url.clone());
    env.set("TABLE_NAME", p.table.clone());
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&aws::load(&env).await),
        &TableName::from_env(&env)?,
    );
    // A limit no run reaches, over 100 keys, so every decision writes.
    let limit = RateLimit::per_minute("bench", u32::MAX / 2);
    println!("rate-limiter benchmark ({decisions} decisions per run)");
    for callers in [1usize, 32] {
        proxy.reset_calls();
        let now = Utc::now();
        let started = Instant::now();
        let allowed = stream::iter(0..decisions)
            .map(|i| {
                let (store, key) = (&store, format!("user-{}", i % 100));
                async move { store.rate_hit(&limit, &key, now).await }
            })
            .buffer_unordered(callers)
            .fold(0usize, |n, d| async move {
                n + usize::from(matches!(d, Ok(Decision::Allowed { .. })))
            })
            .await;
        let wall = started.elapsed().as_secs_f64();
        let calls: u64 = proxy.all_calls().values().sum();
        println!(
            "  {callers:>2} caller(s): {:.0} decisions/s ({allowed} allowed in {wall:.2} s), {:.3} DynamoDB calls per decision",
            decisions as f64 / wall,
            calls as f64 / decisions as f64
        );
    }
    Ok(())
}
