#!/usr/bin/env bash
# Relay benchmark: starts a fresh moto server of its own and the TikTok
# sandbox as its own process, builds in release, then relays stored videos
# to the sandbox's upload host through upload-publish, beside a raw copy.
#   infra/bench/relay.sh [--sizes 100000000,1000000000] [--runs 3]
set -euo pipefail
source "$(dirname "$0")/../local/lib.sh"
cd "$root"
"$root/infra/local/setup.sh"
MOTO_PORT="${BENCH_MOTO_PORT:-5021}"
start_private_moto "$MOTO_PORT" bench-relay
cargo build --release --quiet -p tools --bin bench-relay
cargo build --release --quiet -p tiktok-sandbox --bin tiktok-sandbox
AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/target/release/bench-relay" "$@"
