#!/usr/bin/env bash
# Rate-limiter benchmark on a fresh emulator of its own, release build.
#   infra/bench/ratelimit.sh [--decisions 2000]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5021}"
start_private_moto "$MOTO_PORT" bench-ratelimit
cargo build --release --quiet -p tools --bin bench-ratelimit
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-ratelimit" "$@"
