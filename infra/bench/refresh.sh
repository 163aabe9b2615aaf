#!/usr/bin/env bash
# Token-refresh benchmark: starts a fresh moto server of its own, builds in
# release, seeds the accounts and runs one sweep, then a sequential loop.
#   infra/bench/refresh.sh [--accounts 10000] [--latency-ms 100] [--concurrency 32] [--sequential-sample 200]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5020}"
nohup "$venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" \
  > "$state_dir/bench-moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" "moto server"
cargo build --release --quiet -p flows --bin bench-refresh
cargo build --release --quiet -p tiktok-sandbox --bin tiktok-sandbox
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-refresh" "$@"
