#!/usr/bin/env bash
# Token-refresh benchmark: starts a fresh moto server of its own, builds in
# release, seeds the accounts and runs one sweep, then a sequential loop, and
# prints, among others, the refresh's own CPU per refreshed account. The
# function's JSON logs go to .local/bench-refresh.log.
#   infra/bench/refresh.sh [--accounts 10000] [--latency-ms 100] [--concurrency 32]
#       [--sequential-sample 200] [--runs 1] [--profile]
# e.g. the CPU figures, median of 3 runs, and where the time goes:
#   infra/bench/refresh.sh --accounts 2000 --sequential-sample 20 --runs 3 --profile
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5020}"
start_private_moto "$MOTO_PORT" bench-refresh
cargo build --release --quiet -p tools --bin bench-refresh
cargo build --release --quiet -p tiktok-sandbox --bin tiktok-sandbox
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-refresh" \
  --log-file "$state_dir/bench-refresh.log" "$@"
