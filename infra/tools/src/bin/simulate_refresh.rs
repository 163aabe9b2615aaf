//! Simulates token refresh by fan-out: the real planner and workers on
//! in-memory stand-ins, in virtual time (see `simulation`).
//!
//!     infra/bench/simulate.sh                       # every scenario, one table
//!     simulate-refresh --accounts 1000000 --shards 256 --max-workers 8
//!         [--hours 6] [--warmup-hours 2] [--access-hours 2] [--mix-24h 0.1]
//!         [--median-ms 150] [--p99-ms 800] [--rate-429 0.1] [--rate-5xx 0]
//!         [--outage-hours 2] [--outage-at-hours 2] [--outage-kind 5xx|timeout]
//!         [--tiktok-timeout-s 10] [--aws-timeout-s 2] [--worker-timeout-s 900]
//!         [--cpu-ms 2] [--vcpu 0.15625] [--memory-mb 256] [--concurrency 32]
//!         [--dynamodb-ms 5] [--kms-ms 8] [--sqs-ms 10] [--seed 1]
//!         [--sequential-sample 2000] [--name NAME] [--json]
//!     simulate-refresh --render < scenarios.jsonl   # the table of --json lines
//!
//! Prints what the scenario measured: refresh rate, due-to-refresh lag,
//! expiries, duplicate refreshes, AWS calls and cost per refresh, worker
//! concurrency and back-pressure, and the sequential design beside it.

#[path = "../simulation/mod.rs"]
mod simulation;

use std::io::Read;

use anyhow::{Context, anyhow};
use simulation::{Config, report};

fn main() -> anyhow::Result<()> {
    // The refresher's metrics lines are not this tool's output.
    shared::support::metrics::redirect(Box::new(std::io::sink()));
    let mut cfg = Config::default();
    let (mut json, mut render) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let flag = arg
            .strip_prefix("--")
            .ok_or_else(|| anyhow!("expected a --flag, got {arg:?}"))?;
        match flag {
            "json" => json = true,
            "render" => render = true,
            _ => {
                let (name, value) = match flag.split_once('=') {
                    Some((name, value)) => (name.to_owned(), value.to_owned()),
                    None => (
                        flag.to_owned(),
                        args.next()
                            .ok_or_else(|| anyhow!("--{flag} needs a value"))?,
                    ),
                };
                cfg.set(&name, &value)?;
            }
        }
    }
    if render {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("reading the scenarios")?;
        let scenarios: Vec<_> = input.lines().filter_map(report::parse_line).collect();
        print!("{}", report::render(&scenarios));
        return Ok(());
    }
    let wall = std::time::Instant::now();
    let (fanout, sequential) = simulation::run(&cfg)?;
    let rows = report::rows(
        &cfg,
        &fanout,
        sequential.as_ref(),
        wall.elapsed().as_secs_f64(),
        tools::bench::peak_rss_kib(),
    );
    if json {
        println!("{}", report::json_line(&cfg.name, &rows));
    } else {
        print!("{}", report::render(&[(cfg.name.clone(), rows)]));
    }
    Ok(())
}
