#!/usr/bin/env bash
# Analytics snapshot benchmark: starts a fresh moto server of its own, builds
# in release, seeds three stacks (the snapshot alone; the snapshot beside
# token-refresh sweeps; the refresh's, on a second moto) and prints the run's wall time against the ideal
# under the app-wide cap, AWS calls and bytes stored per account per day,
# peak RSS, and the delay the run adds to a refresh sweep.
#   infra/bench/analytics.sh [--accounts 2000] [--videos 20] [--latency-ms 100]
#       [--workers 4] [--app-rpm 600] [--refresh-accounts 2000] [--sweeps 3]
#       [--refresh-endpoint URL]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5021}"
start_private_moto "$MOTO_PORT" bench-analytics
snapshot_moto=$private_moto_pid
# The refresh's stack on an emulator of its own: moto answers one request
# at a time and its Query reads the whole table, so on one emulator the
# sweep would measure moto's queue, not the snapshot's effect on it.
REFRESH_MOTO_PORT="${BENCH_REFRESH_MOTO_PORT:-5022}"
start_private_moto "$REFRESH_MOTO_PORT" bench-analytics-refresh
trap 'kill $snapshot_moto $private_moto_pid 2>/dev/null || true' EXIT
cargo build --release --quiet -p tools --bin bench-analytics
cargo build --release --quiet -p tiktok-sandbox --bin tiktok-sandbox
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-analytics" \
  --refresh-endpoint "http://127.0.0.1:$REFRESH_MOTO_PORT" "$@"
