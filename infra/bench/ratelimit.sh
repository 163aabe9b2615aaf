#!/usr/bin/env bash
# Rate-limiter benchmark on a fresh emulator of its own, release build.
#   infra/bench/ratelimit.sh [--decisions 2000]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5021}"
nohup "$venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" \
  > "$state_dir/bench-ratelimit-moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" "moto server"
cargo build --release --quiet -p flows --bin bench-ratelimit
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-ratelimit" "$@"
